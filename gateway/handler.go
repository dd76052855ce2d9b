package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	// Registers the google.rpc error detail types so error bodies render their details.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
	"github.com/runwire/runwire/generated/openapi"
)

const (
	requestIDHeader  = "x-request-id"
	rateLimitPrefix  = "x-ratelimit-"
	retryAfterHeader = "retry-after"
)

// forwardedHeaders pass to the server under their own (lower-case) names:
// the API key, the caller's request id and language. runtime.AnnotateContext
// forwards Authorization itself.
var forwardedHeaders = map[string]bool{
	"x-api-key":       true,
	requestIDHeader:   true,
	"accept-language": true,
}

var registrations = []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
	runwirev1.RegisterAdminServiceHandler,
	runwirev1.RegisterAgentServiceHandler,
	runwirev1.RegisterBatchServiceHandler,
	runwirev1.RegisterConfigServiceHandler,
	runwirev1.RegisterCrewServiceHandler,
	runwirev1.RegisterEventServiceHandler,
	runwirev1.RegisterFileServiceHandler,
	runwirev1.RegisterMcpServerServiceHandler,
	runwirev1.RegisterMemoryServiceHandler,
	runwirev1.RegisterMessageServiceHandler,
	runwirev1.RegisterMessagingServiceHandler,
	runwirev1.RegisterRunServiceHandler,
	runwirev1.RegisterSecretServiceHandler,
	runwirev1.RegisterSessionServiceHandler,
	runwirev1.RegisterToolServiceHandler,
}

var jsonMarshaler = &runtime.JSONPb{
	MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
	// A misspelt field is a client bug: refuse it rather than drop it silently.
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}

// gatewayHandler is the gateway's HTTP handler and its open WebSockets.
type gatewayHandler struct {
	http.Handler
	websockets *websocketBridge
}

// newHandler routes the REST API, the WebSocket of EventService.Connect, the
// OpenAPI document and the health endpoints. When ctx ends, open WebSockets
// are told to reconnect and closed.
func newHandler(ctx context.Context, conn *grpc.ClientConn, cfg config) (*gatewayHandler, error) {
	api := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithMarshalerOption(eventStreamMIME, &eventStreamMarshaler{json: jsonMarshaler}),
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithOutgoingTrailerMatcher(outgoingTrailer),
		runtime.WithErrorHandler(writeError),
		runtime.WithForwardResponseOption(promoteRateLimitTrailers),
	)
	for _, register := range registrations {
		if err := register(ctx, api, conn); err != nil {
			return nil, err
		}
	}
	health := newHealth(conn, cfg.readyTimeout)
	websockets := &websocketBridge{
		events: runwirev1.NewEventServiceClient(conn), mux: api, origins: cfg.corsOrigins, opts: cfg.websocket, shutdown: ctx,
	}
	root := http.NewServeMux()
	root.Handle("GET "+connectPath, withRequestID(websockets))
	root.HandleFunc("GET /healthz", health.live)
	root.HandleFunc("GET /readyz", health.ready)
	root.HandleFunc("GET /openapi.json", serveOpenAPI)
	root.Handle("/", withRequestID(withLastEventID(withProtoFieldMask(api))))
	// The query credential leaves the URL before the access log sees it.
	handler := withQueryCredential(withAccessLog(withCORS(cfg.corsOrigins, root)))
	return &gatewayHandler{Handler: handler, websockets: websockets}, nil
}

func incomingHeader(key string) (string, bool) {
	name := strings.ToLower(key)
	if name == "authorization" {
		return "", false
	}
	if forwardedHeaders[name] {
		return name, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// isRateLimitKey: x-ratelimit-* and retry-after, which HTTP clients read as headers.
func isRateLimitKey(key string) bool {
	return strings.HasPrefix(key, rateLimitPrefix) || key == retryAfterHeader
}

// outgoingHeader returns the rate-limit headers as they are and other
// response metadata with the Grpc-Metadata- prefix. The request id is set by
// withRequestID already, and the transport's own keys mean nothing over HTTP.
func outgoingHeader(key string) (string, bool) {
	switch {
	case key == requestIDHeader || key == "content-type" || strings.HasPrefix(key, "grpc-"):
		return "", false
	case isRateLimitKey(key):
		return textproto.CanonicalMIMEHeaderKey(key), true
	}
	return runtime.MetadataHeaderPrefix + key, true
}

func outgoingTrailer(key string) (string, bool) {
	if key == requestIDHeader || strings.HasPrefix(key, "grpc-") {
		return "", false
	}
	return runtime.MetadataTrailerPrefix + key, true
}

// promoteRateLimitTrailers returns the rate-limit trailers of a unary call
// (the server sends them there) as headers, which HTTP clients read.
func promoteRateLimitTrailers(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	copyRateLimitTrailers(ctx, w.Header())
	return nil
}

func copyRateLimitTrailers(ctx context.Context, header http.Header) {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return
	}
	for key, values := range md.TrailerMD {
		if isRateLimitKey(key) && len(values) > 0 && header.Get(key) == "" {
			header.Set(key, values[0])
		}
	}
}

// withRequestID gives every request an id before it is proxied: the
// caller's X-Request-Id when the server would accept it, a new one otherwise.
// The response carries it even when the call fails before the server answers.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID.MatchString(id) {
			id = newRequestID()
			r.Header.Set(requestIDHeader, id)
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r)
	})
}

// validRequestID is the server's rule for a caller's request id.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newRequestID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// writeError answers the google.rpc.Status as JSON (details included) with
// the HTTP status of its code, even to a client that asked for an event stream.
func writeError(ctx context.Context, mux *runtime.ServeMux, marshaler runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if _, isEventStream := marshaler.(*eventStreamMarshaler); isEventStream {
		marshaler = jsonMarshaler
	}
	fixed := &beforeHeaders{ResponseWriter: w, fix: func(header http.Header) {
		copyRateLimitTrailers(ctx, header) // so a 429 says when to retry
		// The default handler puts the status message there; RFC 9110 wants a scheme.
		if header.Get("WWW-Authenticate") != "" {
			header.Set("WWW-Authenticate", `Bearer realm="runwire"`)
		}
	}}
	runtime.DefaultHTTPErrorHandler(ctx, mux, marshaler, fixed, r, err)
}

// beforeHeaders runs fix on the response headers just before they are sent.
type beforeHeaders struct {
	http.ResponseWriter
	fix  func(http.Header)
	sent bool
}

func (b *beforeHeaders) WriteHeader(code int) {
	if !b.sent {
		b.sent = true
		b.fix(b.Header())
	}
	b.ResponseWriter.WriteHeader(code)
}

func (b *beforeHeaders) Write(data []byte) (int, error) {
	if !b.sent {
		b.WriteHeader(http.StatusOK)
	}
	return b.ResponseWriter.Write(data)
}

func (b *beforeHeaders) Unwrap() http.ResponseWriter { return b.ResponseWriter }

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.Document)
}
