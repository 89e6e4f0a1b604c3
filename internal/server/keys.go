package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/search"
	"github.com/hestiahealth/hestia/internal/store/sqlstore"
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
			return nil, errors.New("an AWS KMS key is rotated in AWS KMS itself; `hestia keys rotate kek` then re-wraps the stored keys under its new version")
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

func openKeyring(ctx context.Context, cfg Config, db Storage, log *slog.Logger) (*crypt.Keyring, error) {
	kek := cfg.kek
	if kek == nil {
		var err error
		if kek, err = KEK(ctx, cfg, log, false); err != nil {
			return nil, err
		}
	}
	return crypt.NewKeyring(ctx, crypt.KeyringConfig{KEK: kek, Store: db, CacheSize: cfg.KeyCacheSize, CacheTTL: cfg.keyTTL})
}

// RotateIndex rotates the blind-index key online (see crypt.IndexPhase),
// resuming a rotation that stopped part way: it adds a new key, waits wait
// (longer than every running server's key cache lifetime) measured from the
// key's last change, makes the new key the one rows are written with,
// waits again, rebuilds every resource's index rows under it, and destroys
// the old key. say is told each step; progress how far the rebuild is. It
// returns the number of resources whose rows were rebuilt.
func (n *Node) RotateIndex(ctx context.Context, wait time.Duration, say func(string), progress func(done, total int)) (int, error) {
	if n.Keys == nil {
		return 0, errors.New("this build stores data in the clear and has no keys")
	}
	phase, changed, err := n.Keys.IndexRotation(ctx)
	if err != nil {
		return 0, err
	}
	settle := func(why string) error {
		left := wait - time.Since(changed)
		if left <= 0 {
			return nil
		}
		say(fmt.Sprintf("waiting %s %s", left.Round(time.Millisecond), why))
		t := time.NewTimer(left)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		switch phase {
		case crypt.IndexSteady:
			if phase, err = n.Keys.AdvanceIndexRotation(ctx, phase); err != nil {
				return 0, err
			}
			say("added a new index key; searches look up both keys")
		case crypt.IndexAdded:
			if err := settle("for running servers to look up both keys"); err != nil {
				return 0, err
			}
			if phase, err = n.Keys.AdvanceIndexRotation(ctx, phase); err != nil {
				return 0, err
			}
			say("index rows are now written under the new key")
		case crypt.IndexPromoted:
			if err := settle("for running servers to write under the new key"); err != nil {
				return 0, err
			}
			enc := search.Keyed{Form: n.Keys.IndexForm}
			count, err := n.DB.Reindex(ctx, enc.EncodeIndex, progress)
			if err != nil {
				return count, err
			}
			if _, err = n.Keys.AdvanceIndexRotation(ctx, phase); err != nil {
				return count, err
			}
			say("the old index key is destroyed")
			return count, nil
		default:
			return 0, fmt.Errorf("unknown index key phase %v", phase)
		}
		changed = time.Now()
	}
}

// Reencrypt seals every stored body and key list again under its data
// key's current version, online and in batches, and then destroys the
// older versions (after a rotation of the data keys: see
// crypt.Keyring.RotateDataKeys). It returns the number of ciphertexts
// resealed and of data keys whose older versions were destroyed.
func (n *Node) Reencrypt(ctx context.Context, progress func(done, total int)) (resealed, retired int, err error) {
	if n.Keys == nil {
		return 0, 0, errors.New("this build stores data in the clear and has no keys")
	}
	resealed, err = n.DB.Reseal(ctx, func(s *sqlstore.Sealed) ([]byte, error) {
		ad := engine.BodyAD(s.Type, s.ID, s.Version)
		if s.Keys {
			ad = crypt.KeysAD(s.Type + "/" + s.ID)
		}
		return n.Keys.Reseal(ctx, s.Owner, ad, s.Data)
	}, progress)
	if err != nil {
		return resealed, 0, err
	}
	retired, err = n.Keys.RetireOldDataKeys(ctx)
	return resealed, retired, err
}

// StoresInTheClear reports a binary built with -tags benchplaintext, which
// stores data unencrypted to measure the overhead of encryption.
func StoresInTheClear() bool { return plaintextBenchmark }
