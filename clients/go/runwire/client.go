// Package runwire is a small Go client for the Runwire gRPC API.
//
// It dials one connection, sends the API key with every call and puts a
// default deadline on unary calls; the typed stubs generated from
// protos/runwire (package runwirev1) do the rest:
//
//	client, err := runwire.Dial("127.0.0.1:50051", runwire.WithAPIKey(key), runwire.WithInsecure())
//	agent, err := client.Agents.CreateAgent(ctx, &runwirev1.CreateAgentRequest{...})
package runwire

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

// DefaultTimeout bounds a unary call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// MaxMessageBytes is the largest message the client sends or accepts: the
// server's default limit, above gRPC's 4 MiB.
const MaxMessageBytes = 8 << 20

// Client holds one connection and a stub per service. It is safe for
// concurrent use; Close it when done.
type Client struct {
	conn *grpc.ClientConn

	Admin      runwirev1.AdminServiceClient
	Agents     runwirev1.AgentServiceClient
	Batches    runwirev1.BatchServiceClient
	Config     runwirev1.ConfigServiceClient
	Crews      runwirev1.CrewServiceClient
	Events     runwirev1.EventServiceClient
	Files      runwirev1.FileServiceClient
	McpServers runwirev1.McpServerServiceClient
	Memory     runwirev1.MemoryServiceClient
	Messages   runwirev1.MessageServiceClient
	Runs       runwirev1.RunServiceClient
	Sessions   runwirev1.SessionServiceClient
	Tools      runwirev1.ToolServiceClient
}

type options struct {
	apiKey      string
	tlsConfig   *tls.Config
	plaintext   bool
	timeout     time.Duration
	dialOptions []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithAPIKey sends key as "authorization: Bearer <key>" on every call.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithInsecure dials without TLS, for a server on localhost or inside a
// trusted network. The API key is still sent.
func WithInsecure() Option { return func(o *options) { o.plaintext = true } }

// WithTLS dials with this TLS configuration (the default is the system roots).
func WithTLS(config *tls.Config) Option { return func(o *options) { o.tlsConfig = config } }

// WithTimeout sets the deadline of unary calls whose context has none;
// 0 leaves them unbounded. Streams are never given one: a run may be long.
func WithTimeout(timeout time.Duration) Option { return func(o *options) { o.timeout = timeout } }

// WithDialOptions appends raw gRPC dial options (interceptors, keepalive...).
func WithDialOptions(dialOptions ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, dialOptions...) }
}

// Dial connects lazily to target (host:port); the first call opens the connection.
func Dial(target string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.plaintext && o.tlsConfig != nil {
		return nil, errors.New("runwire: WithInsecure and WithTLS exclude each other")
	}
	transport := insecure.NewCredentials()
	if !o.plaintext {
		config := o.tlsConfig
		if config == nil {
			config = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		transport = credentials.NewTLS(config)
	}
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	}
	if o.apiKey != "" {
		dialOptions = append(dialOptions, grpc.WithPerRPCCredentials(apiKey{key: o.apiKey, secure: !o.plaintext}))
	}
	if o.timeout > 0 {
		dialOptions = append(dialOptions, grpc.WithChainUnaryInterceptor(defaultDeadline(o.timeout)))
	}
	conn, err := grpc.NewClient(target, append(dialOptions, o.dialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Admin:      runwirev1.NewAdminServiceClient(conn),
		Agents:     runwirev1.NewAgentServiceClient(conn),
		Batches:    runwirev1.NewBatchServiceClient(conn),
		Config:     runwirev1.NewConfigServiceClient(conn),
		Crews:      runwirev1.NewCrewServiceClient(conn),
		Events:     runwirev1.NewEventServiceClient(conn),
		Files:      runwirev1.NewFileServiceClient(conn),
		McpServers: runwirev1.NewMcpServerServiceClient(conn),
		Memory:     runwirev1.NewMemoryServiceClient(conn),
		Messages:   runwirev1.NewMessageServiceClient(conn),
		Runs:       runwirev1.NewRunServiceClient(conn),
		Sessions:   runwirev1.NewSessionServiceClient(conn),
		Tools:      runwirev1.NewToolServiceClient(conn),
	}, nil
}

// Conn is the underlying connection, for stubs this package does not hold
// (grpc.health.v1, reflection).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection; calls in flight fail with CANCELED.
func (c *Client) Close() error { return c.conn.Close() }

// apiKey is the per-call credential. Over TLS gRPC refuses to send it on a
// plaintext connection; WithInsecure says that is intended.
type apiKey struct {
	key    string
	secure bool
}

func (a apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + a.key}, nil
}

func (a apiKey) RequireTransportSecurity() bool { return a.secure }

func defaultDeadline(timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, has := ctx.Deadline(); !has {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
