package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

// connectPath is EventService.Connect's REST path; a GET there upgrades to a WebSocket.
const connectPath = "/v1/events:connect"

// accessTokenParam carries a credential where a browser cannot set headers:
// the URL of a WebSocket or an EventSource. The gateway moves it into the
// `authorization: Bearer` header before anything logs or routes the request.
const accessTokenParam = "access_token"

// websocketOptions tune the WebSocket bridge.
type websocketOptions struct {
	// pingInterval between WebSocket ping frames; a peer that has not
	// answered one when the next is due is disconnected.
	pingInterval time.Duration
	// sendQueue is how many server messages may wait for a slow browser
	// before it is told SLOW_CONSUMER and disconnected.
	sendQueue int
	// writeTimeout bounds each frame written to the browser.
	writeTimeout time.Duration
	// maxMessage is the largest frame accepted from the browser.
	maxMessage int
}

// websocketBridge serves `GET /v1/events:connect` as a WebSocket that speaks
// EventService.Connect: each text frame is one ConnectRequest (browser to
// server) or ConnectResponse (server to browser) in the protobuf JSON mapping.
type websocketBridge struct {
	events  runwirev1.EventServiceClient
	mux     *runtime.ServeMux // for runtime.AnnotateContext: the same metadata as every other call
	origins []string
	opts    websocketOptions
	// shutdown ends when the gateway stops; open connections are then told
	// to reconnect and closed.
	shutdown context.Context
	open     atomic.Int64
}

var connectJSON = protojson.MarshalOptions{}
var connectRequestJSON = protojson.UnmarshalOptions{DiscardUnknown: false}

// WebSocket close codes (RFC 6455 section 7.4.1) the bridge sends.
const (
	closeNormal         = websocket.StatusNormalClosure   // 1000: the server ended the call with OK
	closeGoingAway      = websocket.StatusGoingAway       // 1001: the gateway is shutting down
	closeUnsupported    = websocket.StatusUnsupportedData // 1003: a binary frame
	closePolicy         = websocket.StatusPolicyViolation // 1008: the caller's fault (credentials, arguments)
	closeServerError    = websocket.StatusInternalError   // 1011: the server failed
	closeTryAgainLater  = websocket.StatusTryAgainLater   // 1013: retry later (limits, slow consumer, unavailable)
	maxCloseReasonBytes = 123
)

// closeCodeOf maps the gRPC status that ended a Connect call to a close code.
func closeCodeOf(code codes.Code) websocket.StatusCode {
	switch code {
	case codes.OK:
		return closeNormal
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition,
		codes.OutOfRange, codes.NotFound, codes.AlreadyExists:
		return closePolicy
	case codes.ResourceExhausted, codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
		return closeTryAgainLater
	}
	return closeServerError
}

// closeReasonOf is "CODE REASON: message" (the ErrorInfo reason when there
// is one), cut to the 123 bytes a close frame allows.
func closeReasonOf(st *status.Status) string {
	reason := strings.ToUpper(codeName(st.Code()))
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			reason += " " + info.GetReason()
			break
		}
	}
	if st.Message() != "" {
		reason += ": " + st.Message()
	}
	return truncateUTF8(reason, maxCloseReasonBytes)
}

// codeName is the canonical upper-case name of a gRPC code, e.g. UNAUTHENTICATED.
func codeName(code codes.Code) string {
	switch code {
	case codes.OK:
		return "OK"
	case codes.Canceled:
		return "CANCELLED"
	}
	var name strings.Builder
	for i, r := range code.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			name.WriteByte('_')
		}
		name.WriteRune(r)
	}
	return strings.ToUpper(name.String())
}

func truncateUTF8(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// originAllowed: no Origin (not a browser), the gateway's own origin, or one
// of the CORS origins. Browsers do not apply CORS to WebSockets, so the
// gateway checks here what withCORS grants other requests.
func originAllowed(r *http.Request, origins []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || slices.Contains(origins, "*") || slices.Contains(origins, origin) {
		return true
	}
	parsed, err := url.Parse(origin)
	return err == nil && parsed.Host != "" && strings.EqualFold(parsed.Host, r.Host)
}

// isWebSocketUpgrade: a GET asking to switch to the websocket protocol.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// withQueryCredential turns `?access_token=` of a WebSocket upgrade or an
// event stream into an `authorization: Bearer` header, and removes it from
// the URL so that no log and no route sees it. Other requests keep the
// parameter (and are refused for it): credentials in URLs are for the two
// kinds of request a browser cannot add headers to.
func withQueryCredential(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.RawQuery, accessTokenParam) ||
			!(isWebSocketUpgrade(r) || (r.Method == http.MethodGet && acceptsEventStream(r))) {
			next.ServeHTTP(w, r)
			return
		}
		query := r.URL.Query()
		tokens, present := query[accessTokenParam]
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		query.Del(accessTokenParam)
		r.URL.RawQuery = query.Encode()
		r.RequestURI = r.URL.RequestURI()
		// Sent alongside a header credential, the server refuses the pair
		// ("send either `authorization` or `x-api-key`, not both").
		for _, token := range tokens {
			r.Header.Add("Authorization", "Bearer "+token)
		}
		next.ServeHTTP(w, r)
	})
}

func acceptsEventStream(r *http.Request) bool {
	for _, accept := range r.Header.Values("Accept") {
		if strings.Contains(accept, eventStreamMIME) {
			return true
		}
	}
	return false
}

// ending says why a bridged connection ends and how to tell the browser.
type ending struct {
	code   websocket.StatusCode
	reason string
	// goingAway, when set, is sent as a last ConnectResponse first, with the
	// positions of the subscriptions filled in.
	goingAway *runwirev1.GoingAway
	// drain: deliver the messages already queued first (the server ended the call).
	drain bool
	// peerGone: the browser closed or vanished; nothing more can be sent.
	peerGone bool
}

func (b *websocketBridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "GET "+connectPath+" is a WebSocket; send the upgrade headers, or POST for the JSON-lines stream",
			http.StatusUpgradeRequired)
		return
	}
	if !originAllowed(r, b.origins) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// The call's metadata is built before the upgrade, while the request is whole.
	// Not derived from the request or the gateway's context: on shutdown the
	// browser is told to reconnect first, then the call ends.
	callCtx, err := runtime.AnnotateContext(context.Background(), b.mux, r, runwirev1.EventService_Connect_FullMethodName,
		runtime.WithHTTPPathPattern(connectPath))
	if err != nil {
		http.Error(w, "bad request metadata", http.StatusBadRequest)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // origin checked above
	if err != nil {
		return // Accept has answered the request
	}
	b.open.Add(1)
	defer b.open.Add(-1)
	defer conn.CloseNow()
	conn.SetReadLimit(int64(b.opts.maxMessage))
	callCtx, cancelCall := context.WithCancel(callCtx)
	defer cancelCall()
	stream, err := b.events.Connect(callCtx)
	if err != nil {
		st := status.Convert(err)
		_ = conn.Close(closeCodeOf(st.Code()), closeReasonOf(st))
		return
	}
	(&bridgedConnection{bridge: b, conn: conn, stream: stream, cancelCall: cancelCall}).run()
}

// bridgedConnection is one WebSocket and its Connect call.
type bridgedConnection struct {
	bridge     *websocketBridge
	conn       *websocket.Conn
	stream     runwirev1.EventService_ConnectClient
	cancelCall context.CancelFunc

	queue   chan *runwirev1.ConnectResponse
	endings chan ending
	// positions of the open subscriptions, as delivered to the browser.
	positions map[string]*runwirev1.SubscriptionPosition
	order     []string
}

// end records why the connection ends (the first reason wins) and ends the
// call at once: the server stops sending to a browser that will not read it.
func (c *bridgedConnection) end(e ending) {
	c.cancelCall()
	select {
	case c.endings <- e:
	default: // the first reason wins
	}
}

func (c *bridgedConnection) run() {
	c.queue = make(chan *runwirev1.ConnectResponse, c.bridge.opts.sendQueue)
	c.endings = make(chan ending, 1)
	c.positions = map[string]*runwirev1.SubscriptionPosition{}
	var workers sync.WaitGroup
	workers.Add(3)
	pingCtx, stopPings := context.WithCancel(context.Background())
	go func() { defer workers.Done(); c.fromBrowser() }()
	go func() { defer workers.Done(); c.fromServer() }()
	go func() { defer workers.Done(); c.keepAlive(pingCtx) }()
	final := c.toBrowser()
	stopPings()
	c.cancelCall()
	c.finish(final)
	workers.Wait()
}

// fromBrowser forwards each text frame as a ConnectRequest. A frame that is
// not a ConnectRequest is answered with an `error` message, as the server
// answers a bad message, and the connection stays open.
func (c *bridgedConnection) fromBrowser() {
	defer func() { _ = c.stream.CloseSend() }()
	for {
		kind, data, err := c.conn.Read(context.Background())
		if err != nil {
			c.end(ending{peerGone: true})
			return
		}
		if kind != websocket.MessageText {
			c.end(ending{code: closeUnsupported, reason: "send each ConnectRequest as JSON in a text frame"})
			return
		}
		var request runwirev1.ConnectRequest
		if err := connectRequestJSON.Unmarshal(data, &request); err != nil {
			c.answerMalformed(err)
			continue
		}
		if err := c.stream.Send(&request); err != nil {
			return // the call has ended; fromServer reports how
		}
	}
}

func (c *bridgedConnection) answerMalformed(cause error) {
	st, _ := status.New(codes.InvalidArgument, "the frame is not a ConnectRequest in JSON: "+cause.Error()).
		WithDetails(&errdetails.ErrorInfo{
			Reason: strings.TrimPrefix(runwirev1.ErrorReason_ERROR_REASON_MALFORMED_REQUEST.String(), "ERROR_REASON_"),
			Domain: "runwire.dev",
		})
	c.enqueue(&runwirev1.ConnectResponse{Message: &runwirev1.ConnectResponse_Error{Error: st.Proto()}})
}

// fromServer queues the server's messages for the browser; when the browser
// falls so far behind that the queue is full, it is told SLOW_CONSUMER and
// disconnected, as the server does with a gRPC client.
func (c *bridgedConnection) fromServer() {
	for {
		response, err := c.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.end(ending{code: closeNormal, drain: true})
				return
			}
			st := status.Convert(err)
			c.end(ending{code: closeCodeOf(st.Code()), reason: closeReasonOf(st), drain: true})
			return
		}
		if !c.enqueue(response) {
			return
		}
	}
}

func (c *bridgedConnection) enqueue(response *runwirev1.ConnectResponse) bool {
	select {
	case c.queue <- response:
		return true
	default:
		message := fmt.Sprintf("the client read too slowly: more than %d messages waited; reconnect and resume from positions",
			c.bridge.opts.sendQueue)
		c.end(ending{
			code:   closeTryAgainLater,
			reason: truncateUTF8("ABORTED SLOW_CONSUMER: "+message, maxCloseReasonBytes),
			goingAway: &runwirev1.GoingAway{
				Reason: runwirev1.GoingAway_REASON_SLOW_CONSUMER, Message: message, ReconnectAfter: durationpb.New(0),
			},
		})
		return false
	}
}

// keepAlive sends WebSocket pings; a browser answers them by itself.
func (c *bridgedConnection) keepAlive(ctx context.Context) {
	ticker := time.NewTicker(c.bridge.opts.pingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		pingCtx, cancel := context.WithTimeout(ctx, c.bridge.opts.pingInterval)
		err := c.conn.Ping(pingCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.end(ending{code: closePolicy, reason: "HEARTBEAT_TIMEOUT: no answer to a ping", peerGone: true})
			}
			return
		}
	}
}

// toBrowser writes the queued messages until the connection ends, and says why.
func (c *bridgedConnection) toBrowser() ending {
	for {
		select {
		case e := <-c.endings:
			return e
		default:
		}
		select {
		case e := <-c.endings:
			return e
		case <-c.bridge.shutdown.Done():
			return ending{
				code: closeGoingAway, reason: "the gateway is shutting down; reconnect and resume from positions",
				goingAway: &runwirev1.GoingAway{
					Reason: runwirev1.GoingAway_REASON_SHUTTING_DOWN, ReconnectAfter: durationpb.New(0),
					Message: "the gateway is shutting down; reconnect and resume from positions",
				},
			}
		case response := <-c.queue:
			if err := c.write(response); err != nil {
				return ending{peerGone: true}
			}
		}
	}
}

func (c *bridgedConnection) write(response *runwirev1.ConnectResponse) error {
	data, err := connectJSON.Marshal(response)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.bridge.opts.writeTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return err
	}
	c.track(response)
	return nil
}

// track remembers where each subscription stands in what the browser has
// received, for the positions of a GoingAway the gateway sends.
func (c *bridgedConnection) track(response *runwirev1.ConnectResponse) {
	switch message := response.GetMessage().(type) {
	case *runwirev1.ConnectResponse_Subscribed:
		id := message.Subscribed.GetSubscriptionId()
		if _, known := c.positions[id]; !known {
			c.order = append(c.order, id)
		}
		c.positions[id] = &runwirev1.SubscriptionPosition{
			SubscriptionId: id, SubscriptionName: message.Subscribed.GetSubscriptionName(),
		}
	case *runwirev1.ConnectResponse_Event:
		if position, ok := c.positions[message.Event.GetSubscriptionId()]; ok {
			position.Cursor = message.Event.GetEvent().GetCursor()
		}
	case *runwirev1.ConnectResponse_CaughtUp:
		// The replay's end is a start cursor too: resuming there misses nothing.
		if position, ok := c.positions[message.CaughtUp.GetSubscriptionId()]; ok && message.CaughtUp.GetCursor() != "" {
			position.Cursor = message.CaughtUp.GetCursor()
		}
	case *runwirev1.ConnectResponse_Unsubscribed:
		delete(c.positions, message.Unsubscribed.GetSubscriptionId())
	}
}

// finish delivers what must still reach the browser and closes the WebSocket.
func (c *bridgedConnection) finish(e ending) {
	if e.peerGone {
		if e.code != 0 {
			_ = c.conn.Close(e.code, e.reason)
		}
		return
	}
	if e.drain {
		for drained := false; !drained; {
			select {
			case response := <-c.queue:
				if c.write(response) != nil {
					return
				}
			default:
				drained = true
			}
		}
	}
	if e.goingAway != nil {
		for _, id := range c.order {
			if position, open := c.positions[id]; open {
				e.goingAway.Positions = append(e.goingAway.Positions, position)
			}
		}
		if c.write(&runwirev1.ConnectResponse{Message: &runwirev1.ConnectResponse_GoingAway{GoingAway: e.goingAway}}) != nil {
			return
		}
	}
	_ = c.conn.Close(e.code, e.reason)
}

// wait returns once every WebSocket has closed, or when ctx ends.
func (b *websocketBridge) wait(ctx context.Context) {
	for b.open.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
