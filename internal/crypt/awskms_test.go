package crypt

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The tests below that need a KMS run against local-kms, started by
// .ci/local-kms.sh:
//
//	. .ci/local-kms.sh && go test ./internal/crypt -run AWSKMS -v

// awsKMSTestEnv points the AWS credential chain at dummy static credentials
// and away from the developer's own AWS configuration and the EC2 metadata
// service.
func awsKMSTestEnv(t testing.TB) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_KMS", "")
}

// awsKMSTestConfig returns the local-kms server's config; it skips the test
// without one, except in CI, which must exercise the real server.
func awsKMSTestConfig(t testing.TB) AWSKMSConfig {
	t.Helper()
	cfg := AWSKMSConfig{
		Endpoint: os.Getenv("HESTIA_TEST_AWSKMS_ENDPOINT"),
		KeyURI:   os.Getenv("HESTIA_TEST_AWSKMS_KEY_URI"),
	}
	if cfg.Endpoint == "" || cfg.KeyURI == "" {
		msg := "HESTIA_TEST_AWSKMS_ENDPOINT and HESTIA_TEST_AWSKMS_KEY_URI are unset: start local-kms with `. .ci/local-kms.sh`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must run the AWS KMS tests)")
		}
		t.Skip(msg)
	}
	awsKMSTestEnv(t)
	return cfg
}

func openTestAWSKMS(t testing.TB, cfg AWSKMSConfig) tink.AEAD {
	t.Helper()
	kek, err := OpenAWSKMS(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// newTestAWSKMSKey creates a second symmetric key on the test server and
// returns its key URI.
func newTestAWSKMSKey(t *testing.T, cfg AWSKMSConfig) string {
	t.Helper()
	_, region, err := parseAWSKMSKeyURI(cfg.KeyURI)
	if err != nil {
		t.Fatal(err)
	}
	client, err := newAWSKMSClient(context.Background(), region, cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("hestia test: another key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{
			KeyId: out.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
	})
	return awsKMSURIPrefix + aws.ToString(out.KeyMetadata.Arn)
}

func TestAWSKMSEncryptDecryptRoundTrip(t *testing.T) {
	kek := openTestAWSKMS(t, awsKMSTestConfig(t))
	for _, tc := range []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"with associated data", []byte("a data-encryption key"), []byte("Patient/123")},
		{"without associated data", []byte("a data-encryption key"), nil},
		{"one byte", []byte{0}, []byte("x")},
		{"4096 bytes, the KMS limit", bytes.Repeat([]byte{0xA5}, awsKMSMaxPlaintext), []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := kek.Encrypt(tc.plaintext, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.plaintext) >= 8 && bytes.Contains(ct, tc.plaintext) {
				t.Fatal("ciphertext contains the plaintext")
			}
			pt, err := kek.Decrypt(ct, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, tc.plaintext) {
				t.Fatalf("decrypt = %x, want %x", pt, tc.plaintext)
			}
		})
	}
}

func TestAWSKMSEncryptIsRandomized(t *testing.T) {
	kek := openTestAWSKMS(t, awsKMSTestConfig(t))
	a, err := kek.Encrypt([]byte("dek"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := kek.Encrypt([]byte("dek"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same plaintext are equal")
	}
}

func TestAWSKMSDecryptRejectsOtherAssociatedData(t *testing.T) {
	kek := openTestAWSKMS(t, awsKMSTestConfig(t))
	ct, err := kek.Encrypt([]byte("a data-encryption key"), []byte("Patient/123"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range [][]byte{[]byte("Patient/124"), []byte("patient/123"), nil} {
		if pt, err := kek.Decrypt(ct, ad); err == nil {
			t.Errorf("decrypt with associated data %q = %q, want an error", ad, pt)
		}
	}
	ct, err = kek.Encrypt([]byte("a data-encryption key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kek.Decrypt(ct, []byte("Patient/123")); err == nil {
		t.Error("ciphertext made without associated data decrypts with some")
	}
}

func TestAWSKMSDecryptRejectsCiphertextOfAnotherKey(t *testing.T) {
	cfg := awsKMSTestConfig(t)
	kek := openTestAWSKMS(t, cfg)
	other := cfg
	other.KeyURI = newTestAWSKMSKey(t, cfg)
	otherKEK := openTestAWSKMS(t, other)

	ct, err := otherKEK.Encrypt([]byte("a data-encryption key"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherKEK.Decrypt(ct, []byte("ad")); err != nil {
		t.Fatalf("the other key does not decrypt its own ciphertext: %v", err)
	}
	if pt, err := kek.Decrypt(ct, []byte("ad")); err == nil {
		t.Fatalf("decrypt of another key's ciphertext = %q, want an error", pt)
	}
}

// TestAWSKMSDecryptRejectsTamperedCiphertext flips the first byte and bytes
// of the sealed part. Not the middle: local-kms's blob is
// len(ARN) | ARN | version | AES-GCM, and it ignores the ARN when the request
// names the key (Tink always does), so a flip there goes unnoticed by this
// fake server; AWS KMS's blob format is its own.
func TestAWSKMSDecryptRejectsTamperedCiphertext(t *testing.T) {
	kek := openTestAWSKMS(t, awsKMSTestConfig(t))
	plaintext := []byte("a data-encryption key")
	ct, err := kek.Encrypt(plaintext, []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, len(ct) - 16 - len(plaintext), len(ct) - 17, len(ct) - 16, len(ct) - 1} {
		b := bytes.Clone(ct)
		b[i] ^= 0x01
		if pt, err := kek.Decrypt(b, []byte("ad")); err == nil {
			t.Errorf("decrypt with byte %d flipped = %q, want an error", i, pt)
		}
	}
	if _, err := kek.Decrypt(ct[:len(ct)-1], []byte("ad")); err == nil {
		t.Error("truncated ciphertext decrypts")
	}
	if _, err := kek.Decrypt(append(bytes.Clone(ct), 0), []byte("ad")); err == nil {
		t.Error("extended ciphertext decrypts")
	}
}

func TestAWSKMSWrapsTinkKeyset(t *testing.T) {
	kek := openTestAWSKMS(t, awsKMSTestConfig(t))
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var wrapped bytes.Buffer
	if err := h.Write(keyset.NewBinaryWriter(&wrapped), kek); err != nil {
		t.Fatal(err)
	}
	h2, err := keyset.Read(keyset.NewBinaryReader(bytes.NewReader(wrapped.Bytes())), kek)
	if err != nil {
		t.Fatal(err)
	}

	dek, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	dek2, err := aead.New(h2)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := dek.Encrypt([]byte("Patient body"), []byte("Patient/1/1"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := dek2.Decrypt(ct, []byte("Patient/1/1"))
	if err != nil || string(pt) != "Patient body" {
		t.Fatalf("unwrapped DEK decrypt = %q, %v", pt, err)
	}

	b := wrapped.Bytes()
	b[len(b)/2] ^= 0x01
	if _, err := keyset.Read(keyset.NewBinaryReader(bytes.NewReader(b)), kek); err == nil {
		t.Error("a tampered wrapped keyset reads")
	}
}

// TestAWSKMSErrorsOmitPlaintext checks that plaintext outside the KMS
// limits is refused before any call and that no error quotes it.
func TestAWSKMSErrorsOmitPlaintext(t *testing.T) {
	cfg := awsKMSTestConfig(t)
	kek := openTestAWSKMS(t, cfg)
	secret := bytes.Repeat([]byte("SECRET-DEK "), 1+awsKMSMaxPlaintext/len("SECRET-DEK "))
	for _, pt := range [][]byte{secret, {}} {
		_, err := kek.Encrypt(pt, []byte("ad"))
		if err == nil {
			t.Fatalf("encrypt of %d bytes succeeded, want an error", len(pt))
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("error quotes the plaintext: %.200s", err)
		}
	}

	ct, err := kek.Encrypt([]byte("SECRET-DEK"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = kek.Decrypt(ct, []byte("other"))
	if err == nil {
		t.Fatal("decrypt with other associated data succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "SECRET") || !strings.Contains(msg, cfg.KeyURI) {
		t.Fatalf("error %q: want the key URI and no plaintext", msg)
	}
}

func TestAWSKMSEncryptFailsFastWhenKMSIsDown(t *testing.T) {
	awsKMSTestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	kek := openTestAWSKMS(t, AWSKMSConfig{
		KeyURI:   "aws-kms://arn:aws:kms:us-east-1:111122223333:key/3d1f6a0e-6c55-4b8e-9d5e-0f7a2c4b8e19",
		Endpoint: closed,
	})
	start := time.Now()
	_, err = kek.Encrypt([]byte("a data-encryption key"), []byte("ad"))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("encrypt against a closed port succeeded")
	}
	if elapsed > 5*time.Second {
		t.Fatalf("encrypt took %v to fail, want under 5s", elapsed)
	}
	if !strings.Contains(err.Error(), "attempts, 3") {
		t.Errorf("error %q: want 3 attempts", err)
	}
	t.Logf("failed after %v: %v", elapsed, err)

	// A caller's deadline is honoured too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = kek.(tink.AEADWithContext).EncryptWithContext(ctx, []byte("a data-encryption key"), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("encrypt with a canceled context: %v, want context.Canceled", err)
	}
}

func TestOpenAWSKMSRejectsBadConfig(t *testing.T) {
	awsKMSTestEnv(t)
	const uri = "aws-kms://arn:aws:kms:us-east-1:111122223333:key/3d1f6a0e-6c55-4b8e-9d5e-0f7a2c4b8e19"
	for _, tc := range []struct {
		name string
		cfg  AWSKMSConfig
	}{
		{"empty", AWSKMSConfig{}},
		{"no prefix", AWSKMSConfig{KeyURI: strings.TrimPrefix(uri, awsKMSURIPrefix)}},
		{"gcp uri", AWSKMSConfig{KeyURI: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"}},
		{"not kms", AWSKMSConfig{KeyURI: "aws-kms://arn:aws:s3:us-east-1:111122223333:key/abc"}},
		{"no region", AWSKMSConfig{KeyURI: "aws-kms://arn:aws:kms::111122223333:key/abc"}},
		{"no key id", AWSKMSConfig{KeyURI: "aws-kms://arn:aws:kms:us-east-1:111122223333:key/"}},
		{"bare key id", AWSKMSConfig{KeyURI: "aws-kms://3d1f6a0e-6c55-4b8e-9d5e-0f7a2c4b8e19"}},
		{"plain http off loopback", AWSKMSConfig{KeyURI: uri, Endpoint: "http://kms.example.com"}},
		{"no scheme", AWSKMSConfig{KeyURI: uri, Endpoint: "127.0.0.1:8081"}},
		{"credentials in endpoint", AWSKMSConfig{KeyURI: uri, Endpoint: "https://user:pw@kms.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenAWSKMS(context.Background(), tc.cfg); err == nil {
				t.Fatalf("OpenAWSKMS(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
	for _, cfg := range []AWSKMSConfig{
		{KeyURI: uri},
		{KeyURI: "aws-kms://arn:aws:kms:eu-west-1:111122223333:alias/hestia"},
		{KeyURI: "aws-kms://arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/abc", Region: "us-gov-west-1"},
		{KeyURI: uri, Endpoint: "http://127.0.0.1:8081"},
		{KeyURI: uri, Endpoint: "http://[::1]:8081"},
		{KeyURI: uri, Endpoint: "https://vpce-1234.kms.us-east-1.vpce.amazonaws.com"},
	} {
		if _, err := OpenAWSKMS(context.Background(), cfg); err != nil {
			t.Errorf("OpenAWSKMS(%+v): %v", cfg, err)
		}
	}
}

// BenchmarkAWSKMSEncryptDecrypt measures one Encrypt and one Decrypt of a
// DEK-sized plaintext, the cost of wrapping and unwrapping one DEK.
func BenchmarkAWSKMSEncryptDecrypt(b *testing.B) {
	kek := openTestAWSKMS(b, awsKMSTestConfig(b))
	pt := bytes.Repeat([]byte{7}, 100)
	for b.Loop() {
		ct, err := kek.Encrypt(pt, []byte("Patient/123"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kek.Decrypt(ct, []byte("Patient/123")); err != nil {
			b.Fatal(err)
		}
	}
}
