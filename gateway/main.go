// Command runwire-gateway serves the Runwire gRPC API as REST/JSON.
//
// Routes come from the google.api.http annotations of protos/runwire;
// server-streaming RPCs answer newline-delimited JSON, or Server-Sent Events
// when the client sends "Accept: text/event-stream".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

type config struct {
	listen       string
	upstream     string
	upstreamCA   string
	readyTimeout time.Duration
	corsOrigins  []string
	maxMessage   int
	websocket    websocketOptions
}

// defaultMaxMessageBytes matches the server's default message limits
// (RUNWIRE_MAX_SEND_MESSAGE_BYTES and _RECEIVE_), above gRPC's 4 MiB.
const defaultMaxMessageBytes = 8 << 20

// envOr returns the environment variable name, or fallback when it is unset.
func envOr(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

func parseConfig(args []string) (config, error) {
	var cfg config
	flags := flag.NewFlagSet("runwire-gateway", flag.ContinueOnError)
	flags.StringVar(&cfg.listen, "listen", envOr("RUNWIRE_GATEWAY_LISTEN", "127.0.0.1:8080"),
		"HTTP listen address (env RUNWIRE_GATEWAY_LISTEN)")
	flags.StringVar(&cfg.upstream, "upstream", envOr("RUNWIRE_GATEWAY_UPSTREAM", "127.0.0.1:50051"),
		"gRPC address of the Runwire server (env RUNWIRE_GATEWAY_UPSTREAM)")
	flags.StringVar(&cfg.upstreamCA, "upstream-ca", envOr("RUNWIRE_GATEWAY_UPSTREAM_CA", ""),
		"PEM CA bundle: dial the server with TLS verified against it; plaintext when empty (env RUNWIRE_GATEWAY_UPSTREAM_CA)")
	flags.DurationVar(&cfg.readyTimeout, "ready-timeout", 2*time.Second, "deadline of the /readyz health check")
	flags.IntVar(&cfg.maxMessage, "max-message-bytes", defaultMaxMessageBytes,
		"largest gRPC message sent to or accepted from the server")
	flags.DurationVar(&cfg.websocket.pingInterval, "websocket-ping-interval", 20*time.Second,
		"interval of the WebSocket ping frames; a browser that misses one is disconnected")
	flags.IntVar(&cfg.websocket.sendQueue, "websocket-send-queue", 256,
		"server messages that may wait for a slow WebSocket client before it is disconnected as SLOW_CONSUMER")
	cors := flags.String("cors-origins", envOr("RUNWIRE_GATEWAY_CORS_ORIGINS", ""),
		"comma-separated origins browsers may call from, or * for any; none when empty (env RUNWIRE_GATEWAY_CORS_ORIGINS)")
	if err := flags.Parse(args); err != nil {
		return cfg, err
	}
	for _, origin := range strings.Split(*cors, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			cfg.corsOrigins = append(cfg.corsOrigins, origin)
		}
	}
	cfg.websocket.writeTimeout = 10 * time.Second
	cfg.websocket.maxMessage = cfg.maxMessage
	if cfg.websocket.pingInterval <= 0 || cfg.websocket.sendQueue <= 0 {
		return cfg, errors.New("--websocket-ping-interval and --websocket-send-queue must be positive")
	}
	if flags.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", flags.Args())
	}
	return cfg, nil
}

func dial(cfg config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if cfg.upstreamCA != "" {
		tlsCreds, err := credentials.NewClientTLSFromFile(cfg.upstreamCA, "")
		if err != nil {
			return nil, fmt.Errorf("upstream CA: %w", err)
		}
		creds = tlsCreds
	}
	return grpc.NewClient(cfg.upstream,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.maxMessage), grpc.MaxCallSendMsgSize(cfg.maxMessage)),
	)
}

func run(ctx context.Context, cfg config) error {
	conn, err := dial(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	handler, err := newHandler(ctx, conn, cfg)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	// The tests and scripts read the bound address from this line (port 0 picks a free one).
	slog.Info(fmt.Sprintf("runwire-gateway listening on http://%s, upstream %s", listener.Addr(), cfg.upstream))

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Streams may be long: give them a moment, then close what is left.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		server.Close()
	}
	handler.websockets.wait(shutdownCtx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newLogger writes one JSON object per line, with the field names of the
// server's log (time, level, logger, message), so both read the same way.
func newLogger(w io.Writer) *slog.Logger {
	handler := slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, attr slog.Attr) slog.Attr {
			if len(groups) == 0 && attr.Key == slog.MessageKey {
				attr.Key = "message"
			}
			if len(groups) == 0 && attr.Key == slog.TimeKey {
				attr.Value = slog.StringValue(attr.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z"))
			}
			return attr
		},
	})
	return slog.New(handler).With("logger", "runwire.gateway")
}

func main() {
	slog.SetDefault(newLogger(os.Stderr))
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		stop()
		fatal(err)
	}
}

func fatal(err error) {
	slog.Error(err.Error())
	os.Exit(1)
}
