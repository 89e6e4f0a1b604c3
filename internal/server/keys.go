package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/store/sqlite"
)

// KEK opens the key-encryption key the configuration names: the local KMS
// (a keyset file in the data directory under the master key) or an AWS KMS
// key. rotate adds a new primary key to the local KEK.
func KEK(ctx context.Context, cfg Config, log *slog.Logger, rotate bool) (tink.AEAD, error) {
	switch {
	case cfg.KMS == "" || cfg.KMS == "local":
		master, src, err := crypt.MasterKey(crypt.MasterConfig{
			Key: cfg.MasterKey, KeyFile: cfg.MasterKeyFile, Passphrase: cfg.MasterPassphrase,
			KeyDir: cfg.KeyDir, DataDir: cfg.DataDir,
		})
		if err != nil {
			return nil, err
		}
		switch src {
		case crypt.Generated:
			log.Warn("generated a master key for the local KMS in the key directory; production should use a KMS (--kms) or at least HESTIA_MASTER_KEY_FILE on separate storage",
				slog.String("key_dir", keyDir(cfg)))
		case crypt.FromKeyDir:
			log.Info("local KMS master key from the key directory", slog.String("key_dir", keyDir(cfg)))
		}
		return crypt.OpenLocalKMS(cfg.DataDir, master, rotate)
	case strings.HasPrefix(cfg.KMS, "aws-kms://"):
		if rotate {
			return nil, errors.New("an AWS KMS key rotates in AWS KMS; re-wrap the data keys with `hestia keys rotate kek` after it did")
		}
		return crypt.OpenAWSKMS(ctx, crypt.AWSKMSConfig{KeyURI: cfg.KMS, Endpoint: cfg.KMSEndpoint})
	}
	return nil, fmt.Errorf("unknown KMS %q: use local or an aws-kms:// key URI", cfg.KMS)
}

func keyDir(cfg Config) string {
	if cfg.KeyDir != "" {
		return cfg.KeyDir
	}
	return crypt.DefaultKeyDir()
}

func openKeyring(ctx context.Context, cfg Config, db *sqlite.DB, log *slog.Logger) (*crypt.Keyring, error) {
	kek := cfg.kek
	if kek == nil {
		var err error
		if kek, err = KEK(ctx, cfg, log, false); err != nil {
			return nil, err
		}
	}
	return crypt.NewKeyring(ctx, crypt.KeyringConfig{KEK: kek, Store: db, CacheSize: cfg.KeyCacheSize})
}
