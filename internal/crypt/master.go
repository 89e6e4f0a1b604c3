package crypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/crypto/argon2"
)

// MasterConfig says where the master key of the local KMS comes from, in
// order of preference: Key (32 bytes as hex or base64, from
// HESTIA_MASTER_KEY), KeyFile (a file holding the key, from
// HESTIA_MASTER_KEY_FILE), Passphrase (stretched with argon2id, from
// HESTIA_MASTER_PASSPHRASE). With none of them, a key is generated into
// KeyDir/master.key on first use.
type MasterConfig struct {
	Key        string
	KeyFile    string
	Passphrase string
	KeyDir     string // default ~/.config/hestia
	DataDir    string // holds the passphrase salt
}

// MasterSource tells where the master key came from.
type MasterSource string

const (
	FromEnv        MasterSource = "HESTIA_MASTER_KEY"
	FromFile       MasterSource = "HESTIA_MASTER_KEY_FILE"
	FromPassphrase MasterSource = "HESTIA_MASTER_PASSPHRASE"
	Generated      MasterSource = "generated"
	FromKeyDir     MasterSource = "key directory"
)

// argon2id parameters for a passphrase (OWASP: t=3 with 64 MiB is above
// the recommended minimum of t=2, m=19 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 << 10 // KiB
	argonThreads = 1
)

// MasterKey returns the master AEAD of the local KMS and where the key
// came from. A key file readable by others is refused.
func MasterKey(cfg MasterConfig) (tink.AEAD, MasterSource, error) {
	var key []byte
	var src MasterSource
	var err error
	switch {
	case cfg.Key != "":
		key, err = decodeKey(cfg.Key)
		src = FromEnv
	case cfg.KeyFile != "":
		key, err = readKeyFile(cfg.KeyFile)
		src = FromFile
	case cfg.Passphrase != "":
		key, err = stretch(cfg.Passphrase, cfg.DataDir)
		src = FromPassphrase
	default:
		key, src, err = keyDirKey(cfg.KeyDir)
	}
	if err != nil {
		return nil, src, err
	}
	a, err := subtle.NewAESGCM(key)
	if err != nil {
		return nil, src, fmt.Errorf("crypt: master key: %w", err)
	}
	return a, src, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("crypt: the master key must be 32 bytes in hex or base64")
}

// CheckPrivate refuses a key file that its group or others can read.
func CheckPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("crypt: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("crypt: the key file %s is accessible to other users (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	return nil
}

func readKeyFile(path string) ([]byte, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypt: master key file: %w", err)
	}
	if len(data) == 32 {
		return data, nil
	}
	return decodeKey(string(bytes.TrimSpace(data)))
}

// stretch derives the master key from a passphrase with argon2id and a
// random salt kept in the data directory.
func stretch(passphrase, dataDir string) ([]byte, error) {
	if dataDir == "" {
		return nil, errors.New("crypt: a passphrase needs the data directory for its salt")
	}
	path := filepath.Join(dataDir, "keys", "passphrase.salt")
	salt, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		salt = make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("crypt: salt: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("crypt: salt: %w", err)
		}
		if err := os.WriteFile(path, salt, 0o600); err != nil {
			return nil, fmt.Errorf("crypt: salt: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("crypt: salt: %w", err)
	}
	if len(salt) < 16 {
		return nil, errors.New("crypt: the passphrase salt is corrupt")
	}
	return argon2.IDKey([]byte(passphrase), salt, argonTime, argonMemory, argonThreads, 32), nil
}

// DefaultKeyDir is where a generated master key goes: outside the data
// directory, so that a copy of the data alone does not carry its key.
func DefaultKeyDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "hestia")
	}
	return filepath.Join(os.Getenv("HOME"), ".config", "hestia")
}

func keyDirKey(dir string) ([]byte, MasterSource, error) {
	if dir == "" {
		dir = DefaultKeyDir()
	}
	path := filepath.Join(dir, "master.key")
	if _, err := os.Stat(path); err == nil {
		k, err := readKeyFile(path)
		return k, FromKeyDir, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, Generated, fmt.Errorf("crypt: generate master key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Generated, fmt.Errorf("crypt: key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, Generated, fmt.Errorf("crypt: write master key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, Generated, fmt.Errorf("crypt: write master key: %w", err)
	}
	return key, Generated, nil
}

// kekAD binds the local key-encryption keyset to its purpose.
var kekAD = []byte("hestia/local-kek/v1")

// OpenLocalKMS returns the key-encryption key of the local KMS: a Tink
// keyset in DATA/keys/kek.json, encrypted by the master key, created on
// first use. rotate adds a new primary key to it; older keys stay, so what
// they wrapped still opens until it is re-wrapped. The returned KEK reads
// the file again when it changes (another process rotated it), so a
// running server follows a rotation made by the hestia command.
func OpenLocalKMS(dataDir string, master tink.AEAD, rotate bool) (*LocalKEK, error) {
	path := filepath.Join(dataDir, "keys", "kek.json")
	var h *keyset.Handle
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if h, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
			return nil, fmt.Errorf("crypt: new KEK: %w", err)
		}
		rotate = false
		data = nil
	case err != nil:
		return nil, fmt.Errorf("crypt: read KEK: %w", err)
	default:
		if h, err = readKEK(path, data, master); err != nil {
			return nil, err
		}
	}
	if rotate {
		m := keyset.NewManagerFromHandle(h)
		id, err := m.Add(aead.AES256GCMKeyTemplate())
		if err != nil {
			return nil, fmt.Errorf("crypt: rotate KEK: %w", err)
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, fmt.Errorf("crypt: rotate KEK: %w", err)
		}
		if h, err = m.Handle(); err != nil {
			return nil, fmt.Errorf("crypt: rotate KEK: %w", err)
		}
	}
	if rotate || data == nil {
		if err := writeKeysetFile(path, h, master); err != nil {
			return nil, err
		}
	}
	k := &LocalKEK{path: path, master: master}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func readKEK(path string, data []byte, master tink.AEAD) (*keyset.Handle, error) {
	if err := CheckPrivate(path); err != nil {
		return nil, err
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(data)), master, kekAD)
	if err != nil {
		return nil, errors.New("crypt: the KEK keyset does not open with this master key")
	}
	return h, nil
}

// LocalKEK is the local KMS's key-encryption key.
type LocalKEK struct {
	path   string
	master tink.AEAD
	mu     sync.Mutex
	a      tink.AEAD
	mod    time.Time
	keys   int
}

func (k *LocalKEK) load() error {
	st, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("crypt: read KEK: %w", err)
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("crypt: read KEK: %w", err)
	}
	h, err := readKEK(k.path, data, k.master)
	if err != nil {
		return err
	}
	a, err := aead.New(h)
	if err != nil {
		return fmt.Errorf("crypt: KEK: %w", err)
	}
	k.a, k.mod, k.keys = a, st.ModTime(), h.Len()
	return nil
}

// current returns the primitive, reading the file again if it changed.
func (k *LocalKEK) current() (tink.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if st, err := os.Stat(k.path); err == nil && !st.ModTime().Equal(k.mod) {
		if err := k.load(); err != nil {
			return nil, err
		}
	}
	return k.a, nil
}

// Encrypt implements tink.AEAD with the KEK's primary key.
func (k *LocalKEK) Encrypt(plaintext, ad []byte) ([]byte, error) {
	a, err := k.current()
	if err != nil {
		return nil, err
	}
	return a.Encrypt(plaintext, ad)
}

// Decrypt implements tink.AEAD with any key of the KEK.
func (k *LocalKEK) Decrypt(ciphertext, ad []byte) ([]byte, error) {
	a, err := k.current()
	if err != nil {
		return nil, err
	}
	return a.Decrypt(ciphertext, ad)
}

// Keys is the number of keys in the KEK keyset (1 + the rotations kept).
func (k *LocalKEK) Keys() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys
}

var _ tink.AEAD = (*LocalKEK)(nil)

func writeKeysetFile(path string, h *keyset.Handle, master tink.AEAD) error {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewJSONWriter(&buf), master, kekAD); err != nil {
		return fmt.Errorf("crypt: write KEK: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("crypt: write KEK: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("crypt: write KEK: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("crypt: write KEK: %w", err)
	}
	return nil
}
