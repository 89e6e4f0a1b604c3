package crypt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// AWSKMSConfig names an AWS KMS key and, for tests and private endpoints, the endpoint.
type AWSKMSConfig struct {
	KeyURI   string // "aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID" (Tink's key URI format)
	Endpoint string // optional, e.g. "http://127.0.0.1:8081" for local-kms; empty = AWS's own
	Region   string // optional; taken from the ARN when empty
}

// Limits and timeouts of the AWS KMS key-encryption key.
//
// A KEK call sits on the path of a request that misses the DEK cache, so an
// outage must be reported in seconds, not after the SDK's default backoff
// (up to 20 s between attempts): three attempts at most, a connection must
// be made within awsKMSDialTimeout, an attempt is abandoned after
// awsKMSAttemptTimeout and a call (attempts and backoff together) after
// awsKMSCallTimeout. Against a closed port a call fails in well under a
// second; against a host that drops packets, in about 3 × 2 s.
const (
	awsKMSMaxAttempts    = 3
	awsKMSMaxBackoff     = time.Second
	awsKMSDialTimeout    = 2 * time.Second
	awsKMSAttemptTimeout = 5 * time.Second
	awsKMSCallTimeout    = 10 * time.Second

	// AWS KMS Encrypt takes 1 to 4096 bytes of plaintext and returns at
	// most 6144 bytes of ciphertext; inputs outside are refused before any
	// call, so they are never sent and never echoed back in an error.
	awsKMSMaxPlaintext  = 4096
	awsKMSMaxCiphertext = 6144

	awsKMSURIPrefix = "aws-kms://"
)

// OpenAWSKMS returns the KEK: a tink.AEAD whose Encrypt/Decrypt are calls to
// the KMS key (associated data passed as the KMS encryption context, as
// Tink's integration does: {"associatedData": hex(ad)}, none when ad is
// empty). The AEAD also implements tink.AEADWithContext, for callers that
// carry a deadline.
//
// Credentials come from the standard AWS chain: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared
// config and credentials files (AWS_PROFILE, ~/.aws/config,
// ~/.aws/credentials, SSO, web identity), then the container or EC2 instance
// role. Hestia never reads or stores AWS secrets itself.
//
// OpenAWSKMS does not contact KMS: a wrong key, missing permission or outage
// shows at the first Encrypt or Decrypt. An Endpoint with plain http is
// accepted only on a loopback address (local-kms in tests): over any other
// network the KEK's plaintexts, which are DEKs, would travel in clear.
//
// Plaintexts must be 1 to 4096 bytes (the KMS limit; a serialized Tink
// keyset is far smaller). Errors name the key URI and the KMS error code,
// never plaintext, ciphertext, key material or the server's message.
func OpenAWSKMS(ctx context.Context, cfg AWSKMSConfig) (tink.AEAD, error) {
	keyID, region, err := parseAWSKMSKeyURI(cfg.KeyURI)
	if err != nil {
		return nil, err
	}
	if cfg.Region != "" {
		region = cfg.Region
	}
	if cfg.Endpoint != "" {
		if err := checkAWSKMSEndpoint(cfg.Endpoint); err != nil {
			return nil, fmt.Errorf("crypt: aws kms %s: %w", cfg.KeyURI, err)
		}
	}
	client, err := newAWSKMSClient(ctx, region, cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("crypt: aws kms %s: %w", cfg.KeyURI, err)
	}
	a, err := awskms.NewAEADWithContext(ctx, keyID,
		awskms.WithKMS(client),
		awskms.WithEncryptionContextName(awskms.AssociatedData))
	if err != nil {
		return nil, fmt.Errorf("crypt: aws kms %s: %w", cfg.KeyURI, err)
	}
	return &awsKEK{uri: cfg.KeyURI, aead: a}, nil
}

// parseAWSKMSKeyURI checks that uri is aws-kms://arn:PARTITION:kms:REGION:ACCOUNT:key/ID
// (or alias/NAME) and returns the ARN, which KMS takes as key id, and its region.
func parseAWSKMSKeyURI(uri string) (keyID, region string, err error) {
	arn, ok := strings.CutPrefix(uri, awsKMSURIPrefix)
	f := strings.SplitN(arn, ":", 6)
	if !ok || len(f) != 6 || f[0] != "arn" || !strings.HasPrefix(f[1], "aws") || f[2] != "kms" ||
		f[3] == "" || f[4] == "" ||
		!(strings.HasPrefix(f[5], "key/") && len(f[5]) > len("key/") ||
			strings.HasPrefix(f[5], "alias/") && len(f[5]) > len("alias/")) {
		return "", "", fmt.Errorf("crypt: aws kms key URI %q: want aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID", uri)
	}
	return arn, f[3], nil
}

// checkAWSKMSEndpoint accepts https URLs, and http ones on loopback only.
func checkAWSKMSEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("endpoint %q: want http(s)://HOST[:PORT]", endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("endpoint %q: plain http is allowed on loopback only", endpoint)
	}
	return fmt.Errorf("endpoint %q: want http(s)://HOST[:PORT]", endpoint)
}

// newAWSKMSClient returns a KMS client with the standard credential chain
// and the retry and timeout limits above.
func newAWSKMSClient(ctx context.Context, region, endpoint string) (*kms.Client, error) {
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(awsKMSAttemptTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = awsKMSDialTimeout })
	awsCfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = awsKMSMaxAttempts
				o.MaxBackoff = awsKMSMaxBackoff
			})
		}))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// awsKEK bounds every call in time and keeps plaintext and server messages
// out of its errors.
type awsKEK struct {
	uri  string
	aead tink.AEADWithContext
}

var (
	_ tink.AEAD            = (*awsKEK)(nil)
	_ tink.AEADWithContext = (*awsKEK)(nil)
)

func (k *awsKEK) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return k.EncryptWithContext(context.Background(), plaintext, associatedData)
}

func (k *awsKEK) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	return k.DecryptWithContext(context.Background(), ciphertext, associatedData)
}

func (k *awsKEK) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if len(plaintext) == 0 || len(plaintext) > awsKMSMaxPlaintext {
		return nil, fmt.Errorf("crypt: aws kms %s: encrypt: plaintext of %d bytes, want 1 to %d", k.uri, len(plaintext), awsKMSMaxPlaintext)
	}
	ctx, cancel := context.WithTimeout(ctx, awsKMSCallTimeout)
	defer cancel()
	ct, err := k.aead.EncryptWithContext(ctx, plaintext, associatedData)
	if err != nil {
		return nil, k.fail("encrypt", err)
	}
	return ct, nil
}

func (k *awsKEK) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext) > awsKMSMaxCiphertext {
		return nil, fmt.Errorf("crypt: aws kms %s: decrypt: ciphertext of %d bytes, want 1 to %d", k.uri, len(ciphertext), awsKMSMaxCiphertext)
	}
	ctx, cancel := context.WithTimeout(ctx, awsKMSCallTimeout)
	defer cancel()
	pt, err := k.aead.DecryptWithContext(ctx, ciphertext, associatedData)
	if err != nil {
		return nil, k.fail("decrypt", err)
	}
	return pt, nil
}

// fail wraps a KMS error with the key URI. An error answered by KMS keeps
// only its code (InvalidCiphertextException, AccessDeniedException …) and is
// not wrapped: a server's message may quote the request (local-kms echoes an
// oversized plaintext), and a response that does not parse may hold a
// plaintext. Transport errors (refused, timed out) carry no request data
// and stay wrapped, so errors.Is(err, context.DeadlineExceeded) works.
func (k *awsKEK) fail(op string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("crypt: aws kms %s: %s: %s", k.uri, op, apiErr.ErrorCode())
	}
	var deserErr *smithy.DeserializationError
	if errors.As(err, &deserErr) {
		return fmt.Errorf("crypt: aws kms %s: %s: malformed response", k.uri, op)
	}
	return fmt.Errorf("crypt: aws kms %s: %s: %w", k.uri, op, err)
}
