package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3 is a sink that writes each checkpoint as an object of an
// S3-compatible bucket, s3://BUCKET/PREFIX/SIZE.checkpoint (SIZE
// zero-padded: keys sort by size), never overwriting one (a conditional
// put, If-None-Match: *). With S3 Object Lock on the bucket not even its
// owner can remove them before their retention ends.
type S3 struct {
	client         *s3.Client
	bucket, prefix string
}

// NewS3 opens the sink named by uri (s3://BUCKET[/PREFIX]). Credentials
// and region come from the standard AWS settings; endpoint, if set, names
// an S3-compatible server (path-style addressing; plain http only on
// loopback).
func NewS3(ctx context.Context, uri, endpoint string) (*S3, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("checkpoint sink %q: want s3://BUCKET[/PREFIX]", uri)
	}
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		if err != nil || e.Host == "" || (e.Scheme != "https" && !(e.Scheme == "http" && isLoopback(e.Hostname()))) {
			return nil, fmt.Errorf("S3 endpoint %q: want https://HOST (plain http on loopback only)", endpoint)
		}
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(10 * time.Second).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 5 * time.Second })
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("checkpoint sink %s: AWS config: %w", uri, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	return &S3{client: client, bucket: u.Host, prefix: strings.Trim(u.Path, "/")}, nil
}

func (s *S3) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

func (s *S3) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// Put implements Sink. A checkpoint of a size already held is left as it
// is.
func (s *S3) Put(ctx context.Context, size uint64, note []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.key(fileName(size))),
		Body:        strings.NewReader(string(note)),
		ContentType: aws.String("text/plain; charset=utf-8"),
		IfNoneMatch: aws.String("*"),
	})
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint sink %s: %w", s, err)
	}
	return nil
}

// Newest implements Source: it lists only the keys after after's.
func (s *S3) Newest(ctx context.Context, after uint64) ([]byte, error) {
	start := s.key(fileName(after))
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), StartAfter: aws.String(start)}
	if s.prefix != "" {
		in.Prefix = aws.String(s.prefix + "/")
	}
	var newest string
	var best uint64
	for p := s3.NewListObjectsV2Paginator(s.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("checkpoint sink %s: list: %w", s, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), s.key(""))
			if n, ok := sizeOf(name); ok && n > after && n >= best {
				newest, best = aws.ToString(o.Key), n
			}
		}
	}
	if newest == "" {
		return nil, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(newest)})
	if err != nil {
		return nil, fmt.Errorf("checkpoint sink %s: get: %w", s, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("checkpoint sink %s: get: %w", s, err)
	}
	return b, nil
}

// fileName is the file or object name of the checkpoint of size size.
func fileName(size uint64) string { return fmt.Sprintf("%020d.checkpoint", size) }

// sizeOf reads a name made by fileName.
func sizeOf(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".checkpoint")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
