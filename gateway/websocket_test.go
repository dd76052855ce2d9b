package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

// fakeEvents is an EventService whose Connect authenticates like the server
// (a missing credential is UNAUTHENTICATED) and acts on the ping nonces the
// tests send.
type fakeEvents struct {
	runwirev1.UnimplementedEventServiceServer
	// callEnded receives the error of each Connect call's end as the gateway sees it.
	callEnded chan error
}

const floodEvents = 400

func (f *fakeEvents) Connect(stream runwirev1.EventService_ConnectServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	principal := ""
	if values := md.Get("authorization"); len(values) == 1 {
		principal = "bearer " + strings.TrimPrefix(values[0], "Bearer ")
	}
	if values := md.Get("x-api-key"); len(values) == 1 && principal == "" {
		principal = "key " + values[0]
	}
	if principal == "" {
		return errorStatus(codes.Unauthenticated, "UNAUTHENTICATED", "send `authorization: Bearer <credential>`")
	}
	send := func(response *runwirev1.ConnectResponse) error {
		err := stream.Send(response)
		if err != nil && f.callEnded != nil {
			f.callEnded <- err
		}
		return err
	}
	if err := send(&runwirev1.ConnectResponse{Message: &runwirev1.ConnectResponse_Connected{
		Connected: &runwirev1.Connected{ConnectionId: "c1", Principal: principal}}}); err != nil {
		return err
	}
	for {
		request, err := stream.Recv()
		if err != nil {
			if f.callEnded != nil {
				f.callEnded <- err
			}
			return nil
		}
		switch message := request.GetMessage().(type) {
		case *runwirev1.ConnectRequest_Subscribe:
			if err := send(&runwirev1.ConnectResponse{CorrelationId: request.GetCorrelationId(),
				Message: &runwirev1.ConnectResponse_Subscribed{Subscribed: &runwirev1.Subscribed{SubscriptionId: "s1"}}}); err != nil {
				return err
			}
			for i := 1; i <= 3; i++ {
				if err := send(subscriptionEvent(i, "")); err != nil {
					return err
				}
			}
		case *runwirev1.ConnectRequest_Ping:
			switch nonce := message.Ping.GetNonce(); {
			case nonce == "end":
				return nil
			case nonce == "fail":
				return errorStatus(codes.Internal, "INTERNAL", "the server failed")
			case nonce == "fail-long":
				return errorStatus(codes.ResourceExhausted, "STREAM_LIMIT_EXCEEDED", strings.Repeat("é", 200))
			case nonce == "flood":
				padding := strings.Repeat("x", 64<<10)
				for i := 4; i < 4+floodEvents; i++ {
					if err := send(subscriptionEvent(i, padding)); err != nil {
						return err
					}
				}
			case nonce == "hold":
				<-stream.Context().Done()
				if f.callEnded != nil {
					f.callEnded <- stream.Context().Err()
				}
				return nil
			default:
				if err := send(&runwirev1.ConnectResponse{CorrelationId: request.GetCorrelationId(),
					Message: &runwirev1.ConnectResponse_Pong{Pong: &runwirev1.Pong{Nonce: nonce}}}); err != nil {
					return err
				}
			}
		}
	}
}

func subscriptionEvent(i int, padding string) *runwirev1.ConnectResponse {
	return &runwirev1.ConnectResponse{Message: &runwirev1.ConnectResponse_Event{Event: &runwirev1.SubscriptionEvent{
		SubscriptionId: "s1",
		Event:          &runwirev1.Event{Cursor: fmt.Sprintf("cursor-%04d", i), Type: "run.updated", Resource: "runs/r" + padding},
	}}}
}

func errorStatus(code codes.Code, reason, message string) error {
	st, _ := status.New(code, message).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "runwire.dev"})
	return st.Err()
}

type bridgeFixture struct {
	url      string
	events   *fakeEvents
	shutdown context.CancelFunc
}

func startBridge(t *testing.T, tune func(*config)) *bridgeFixture {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	events := &fakeEvents{callEnded: make(chan error, 16)}
	server := grpc.NewServer()
	runwirev1.RegisterEventServiceServer(server, events)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	conn, err := grpc.NewClient(listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cfg := config{
		corsOrigins: []string{"http://app.example"},
		maxMessage:  defaultMaxMessageBytes,
		websocket: websocketOptions{pingInterval: time.Minute, sendQueue: 256, writeTimeout: 10 * time.Second,
			maxMessage: defaultMaxMessageBytes},
	}
	if tune != nil {
		tune(&cfg)
	}
	ctx, shutdown := context.WithCancel(context.Background())
	t.Cleanup(shutdown)
	handler, err := newHandler(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	httpServer := httptest.NewServer(handler)
	t.Cleanup(httpServer.Close)
	return &bridgeFixture{url: "ws" + strings.TrimPrefix(httpServer.URL, "http") + connectPath, events: events, shutdown: shutdown}
}

func dialBridge(t *testing.T, url string, header http.Header) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

func sendFrame(t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	if err := conn.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func readResponse(t *testing.T, conn *websocket.Conn) *runwirev1.ConnectResponse {
	t.Helper()
	kind, data, err := conn.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if kind != websocket.MessageText {
		t.Fatalf("a %v frame", kind)
	}
	var response runwirev1.ConnectResponse
	if err := protojson.Unmarshal(data, &response); err != nil {
		t.Fatalf("not a ConnectResponse: %s", data)
	}
	return &response
}

// readClose reads until the close frame and returns its code and reason.
func readClose(t *testing.T, conn *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	for {
		_, _, err := conn.Read(context.Background())
		if err == nil {
			continue
		}
		var closed websocket.CloseError
		if !errors.As(err, &closed) {
			t.Fatalf("no close frame: %v", err)
		}
		return closed.Code, closed.Reason
	}
}

func TestFramesGoBothWaysWithTheAPIKeyHeader(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"X-Api-Key": {"k1"}})
	if got := readResponse(t, conn).GetConnected().GetPrincipal(); got != "key k1" {
		t.Fatalf("connected as %q", got)
	}
	sendFrame(t, conn, `{"correlationId": "p1", "ping": {"nonce": "n1"}}`)
	pong := readResponse(t, conn)
	if pong.GetCorrelationId() != "p1" || pong.GetPong().GetNonce() != "n1" {
		t.Fatalf("got %v", pong)
	}
	sendFrame(t, conn, `{"correlationId": "s", "subscribe": {"fromNow": true}}`)
	if got := readResponse(t, conn).GetSubscribed().GetSubscriptionId(); got != "s1" {
		t.Fatalf("subscribed %q", got)
	}
	for i := 1; i <= 3; i++ {
		if got := readResponse(t, conn).GetEvent().GetEvent().GetCursor(); got != fmt.Sprintf("cursor-%04d", i) {
			t.Fatalf("event %d: %q", i, got)
		}
	}
	sendFrame(t, conn, `{"ping": {"nonce": "end"}}`)
	if code, reason := readClose(t, conn); code != websocket.StatusNormalClosure || reason != "" {
		t.Fatalf("closed %v %q", code, reason)
	}
}

func TestABrowserSendsItsCredentialAsAccessToken(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url+"?access_token=tok-1", http.Header{"Origin": {"http://app.example"}})
	if got := readResponse(t, conn).GetConnected().GetPrincipal(); got != "bearer tok-1" {
		t.Fatalf("connected as %q", got)
	}
}

func TestTheQueryCredentialLeavesTheURL(t *testing.T) {
	var seen *http.Request
	handler := withQueryCredential(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r }))
	request := httptest.NewRequest(http.MethodGet, connectPath+"?access_token=secret&x=1", nil)
	request.Header.Set("Upgrade", "websocket")
	handler.ServeHTTP(httptest.NewRecorder(), request)
	if strings.Contains(seen.URL.String(), "secret") || strings.Contains(seen.RequestURI, "secret") {
		t.Fatalf("the token is still in %q / %q", seen.URL, seen.RequestURI)
	}
	if seen.URL.RawQuery != "x=1" || seen.Header.Get("Authorization") != "Bearer secret" {
		t.Fatalf("query %q, authorization %q", seen.URL.RawQuery, seen.Header.Get("Authorization"))
	}
	// An ordinary request keeps the parameter: credentials in URLs are only for what cannot send headers.
	plain := httptest.NewRequest(http.MethodGet, "/v1/agents?access_token=secret", nil)
	handler.ServeHTTP(httptest.NewRecorder(), plain)
	if seen.Header.Get("Authorization") != "" {
		t.Fatal("a plain GET took the query credential")
	}
}

func TestWithoutCredentialsTheCloseIsPolicyWithTheReason(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, nil)
	code, reason := readClose(t, conn)
	if code != websocket.StatusPolicyViolation || !strings.HasPrefix(reason, "UNAUTHENTICATED UNAUTHENTICATED: send") {
		t.Fatalf("closed %v %q", code, reason)
	}
}

func TestAServerFailureClosesWithItsCodeAndReason(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"ping": {"nonce": "fail"}}`)
	if code, reason := readClose(t, conn); code != websocket.StatusInternalError || reason != "INTERNAL INTERNAL: the server failed" {
		t.Fatalf("closed %v %q", code, reason)
	}
}

func TestALongCloseReasonIsCutToTheLimitOnACharacter(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"ping": {"nonce": "fail-long"}}`)
	code, reason := readClose(t, conn)
	prefix := "RESOURCE_EXHAUSTED STREAM_LIMIT_EXCEEDED: "
	if code != websocket.StatusTryAgainLater || !strings.HasPrefix(reason, prefix) {
		t.Fatalf("closed %v %q", code, reason)
	}
	// "é" is two bytes: the cut falls between characters, at 123 bytes or one less.
	if len(reason) > maxCloseReasonBytes || len(reason) < maxCloseReasonBytes-1 ||
		strings.TrimLeft(strings.TrimPrefix(reason, prefix), "é") != "" {
		t.Fatalf("reason of %d bytes: %q", len(reason), reason)
	}
}

func TestAFrameThatIsNotAConnectRequestIsAnsweredAndTheConnectionStays(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"pingg": {}}`)
	failure := readResponse(t, conn).GetError()
	if codes.Code(failure.GetCode()) != codes.InvalidArgument || len(failure.GetDetails()) != 1 {
		t.Fatalf("got %v", failure)
	}
	var info errdetails.ErrorInfo
	if err := failure.GetDetails()[0].UnmarshalTo(&info); err != nil || info.GetReason() != "MALFORMED_REQUEST" {
		t.Fatalf("details %v", failure.GetDetails())
	}
	sendFrame(t, conn, `{"ping": {"nonce": "still"}}`)
	if got := readResponse(t, conn).GetPong().GetNonce(); got != "still" {
		t.Fatalf("pong %q", got)
	}
}

func TestABinaryFrameClosesAsUnsupported(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	if err := conn.Write(context.Background(), websocket.MessageBinary, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if code, _ := readClose(t, conn); code != websocket.StatusUnsupportedData {
		t.Fatalf("closed %v", code)
	}
}

func TestASlowBrowserIsToldAndDisconnected(t *testing.T) {
	bridge := startBridge(t, func(cfg *config) { cfg.websocket.sendQueue = 4 })
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"subscribe": {}}`)
	readResponse(t, conn) // subscribed
	// The browser stops reading while the server sends far more than the queue and the socket hold.
	sendFrame(t, conn, `{"ping": {"nonce": "flood"}}`)
	if err := <-bridge.events.callEnded; status.Code(err) != codes.Canceled {
		t.Fatalf("the call ended with %v", err)
	}
	lastCursor := ""
	for {
		response := readResponse(t, conn)
		if event := response.GetEvent(); event != nil {
			lastCursor = event.GetEvent().GetCursor()
			continue
		}
		goingAway := response.GetGoingAway()
		if goingAway.GetReason() != runwirev1.GoingAway_REASON_SLOW_CONSUMER {
			t.Fatalf("got %v", response)
		}
		positions := goingAway.GetPositions()
		if len(positions) != 1 || positions[0].GetSubscriptionId() != "s1" || positions[0].GetCursor() != lastCursor {
			t.Fatalf("positions %v, last cursor received %q", positions, lastCursor)
		}
		break
	}
	if lastCursor == fmt.Sprintf("cursor-%04d", 3+floodEvents) {
		t.Fatal("every event arrived: the queue never filled")
	}
	code, reason := readClose(t, conn)
	if code != websocket.StatusTryAgainLater || !strings.HasPrefix(reason, "ABORTED SLOW_CONSUMER: ") {
		t.Fatalf("closed %v %q", code, reason)
	}
}

func TestAnOriginNotAllowedIsRefusedBeforeTheUpgrade(t *testing.T) {
	bridge := startBridge(t, nil)
	_, response, err := websocket.Dial(context.Background(), bridge.url,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}, "X-Api-Key": {"k"}}})
	if err == nil || response == nil || response.StatusCode != http.StatusForbidden {
		t.Fatalf("err %v, response %v", err, response)
	}
	// The CORS origin and the gateway's own origin are let in.
	for _, origin := range []string{"http://app.example", "http://" + strings.Split(strings.TrimPrefix(bridge.url, "ws://"), "/")[0]} {
		conn := dialBridge(t, bridge.url, http.Header{"Origin": {origin}, "X-Api-Key": {"k"}})
		readResponse(t, conn)
	}
}

func TestAPlainGetIsToldToUpgrade(t *testing.T) {
	bridge := startBridge(t, nil)
	response, err := http.Get("http" + strings.TrimPrefix(bridge.url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d", response.StatusCode)
	}
}

func TestPingsKeepAnAnsweringBrowser(t *testing.T) {
	bridge := startBridge(t, func(cfg *config) { cfg.websocket.pingInterval = 20 * time.Millisecond })
	pings := make(chan struct{}, 64)
	conn, _, err := websocket.Dial(context.Background(), bridge.url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer t"}},
		OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	readResponse(t, conn)
	// Reading answers the pings; hold the call open meanwhile.
	sendFrame(t, conn, `{"ping": {"nonce": "hold"}}`)
	read := make(chan error, 1)
	go func() { _, _, err := conn.Read(context.Background()); read <- err }()
	for range 3 {
		<-pings
	}
	select {
	case err := <-read:
		t.Fatalf("the connection ended: %v", err)
	default:
	}
}

func TestABrowserThatDoesNotAnswerPingsIsDisconnected(t *testing.T) {
	bridge := startBridge(t, func(cfg *config) { cfg.websocket.pingInterval = 20 * time.Millisecond })
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"ping": {"nonce": "hold"}}`)
	// Not reading, the client answers no ping; the gateway ends the call.
	if err := <-bridge.events.callEnded; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call ended with %v", err)
	}
	if code, reason := readClose(t, conn); code != websocket.StatusPolicyViolation || !strings.HasPrefix(reason, "HEARTBEAT_TIMEOUT") {
		t.Fatalf("closed %v %q", code, reason)
	}
}

func TestOnShutdownTheBrowserIsToldWhereToResume(t *testing.T) {
	bridge := startBridge(t, nil)
	conn := dialBridge(t, bridge.url, http.Header{"Authorization": {"Bearer t"}})
	readResponse(t, conn)
	sendFrame(t, conn, `{"subscribe": {}}`)
	for range 4 { // subscribed and three events
		readResponse(t, conn)
	}
	bridge.shutdown()
	goingAway := readResponse(t, conn).GetGoingAway()
	positions := goingAway.GetPositions()
	if goingAway.GetReason() != runwirev1.GoingAway_REASON_SHUTTING_DOWN || len(positions) != 1 ||
		positions[0].GetCursor() != "cursor-0003" {
		t.Fatalf("got %v", goingAway)
	}
	if code, _ := readClose(t, conn); code != websocket.StatusGoingAway {
		t.Fatalf("closed %v", code)
	}
}
