package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

func TestEventsCarryTheirResumePositionAsID(t *testing.T) {
	m := &eventStreamMarshaler{json: &runtime.JSONPb{}}
	cases := map[string]interface{}{
		"id: 7\ndata: ":         &runwirev1.RunEvent{Seq: 7},
		"id: 9\ndata: ":         &runwirev1.StreamTokensResponse{Seq: 9, Text: "hi"},
		"id: c-1\ndata: ":       &runwirev1.SubscribeResponse{Message: &runwirev1.SubscribeResponse_Event{Event: &runwirev1.Event{Cursor: "c-1"}}},
		"id: c-2\ndata: ":       &runwirev1.SubscribeResponse{Message: &runwirev1.SubscribeResponse_CaughtUp{CaughtUp: &runwirev1.CaughtUp{Cursor: "c-2"}}},
		"id: c-3\ndata: ":       &runwirev1.SubscribeResponse{Message: &runwirev1.SubscribeResponse_Heartbeat{Heartbeat: &runwirev1.Heartbeat{Cursor: "c-3"}}},
		"data: {\"name\":\"f\"": &runwirev1.File{Name: "f"},
	}
	for prefix, message := range cases {
		got, err := m.Marshal(map[string]interface{}{"result": message})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(got), prefix) {
			t.Errorf("%T: %q does not start with %q", message, got, prefix)
		}
	}
}

func resumed(t *testing.T, method, target, body string) *http.Request {
	t.Helper()
	var seen *http.Request
	var seenBody string
	handler := withLastEventID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		seen, seenBody = r, string(data)
	}))
	request := httptest.NewRequest(method, target, strings.NewReader(body))
	request.Header.Set("Accept", eventStreamMIME)
	request.Header.Set("Last-Event-ID", "42")
	handler.ServeHTTP(httptest.NewRecorder(), request)
	seen.Body = io.NopCloser(strings.NewReader(seenBody))
	return seen
}

func TestLastEventIDBecomesAfterSeqOfARunStream(t *testing.T) {
	seen := resumed(t, http.MethodGet, "/v1/runs/r1:streamEvents?afterSeq=3", "")
	if got := seen.URL.Query(); got.Get("after_seq") != "42" || got.Has("afterSeq") {
		t.Fatalf("query %v", got)
	}
}

func TestLastEventIDBecomesTheCursorOfASubscription(t *testing.T) {
	seen := resumed(t, http.MethodPost, subscribePath, `{"topics": ["EVENT_TOPIC_RUNS"], "fromNow": true}`)
	var body map[string]interface{}
	if err := json.NewDecoder(seen.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body["cursor"] != "42" || body["fromNow"] != nil || len(body["topics"].([]interface{})) != 1 {
		t.Fatalf("body %v", body)
	}
}

func TestAResumedExecutionSkipsTheEventsAlreadyReceived(t *testing.T) {
	stream := "id: 41\ndata: {}\n\nid: 42\ndata: {}\n\nid: 43\ndata: {\"seq\":\"43\"}\n\nevent: error\ndata: {}\n\n"
	for _, tc := range []struct{ body, want string }{
		{`{"requestId": "r"}`, "id: 43\ndata: {\"seq\":\"43\"}\n\nevent: error\ndata: {}\n\n"},
		{`{}`, stream}, // no request id: a new run, nothing to skip
	} {
		handler := withLastEventID(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", eventStreamMIME)
			for _, chunk := range strings.SplitAfter(stream, "\n") { // written in pieces, as the runtime does
				_, _ = w.Write([]byte(chunk))
			}
		}))
		request := httptest.NewRequest(http.MethodPost, "/v1/sessions/s1:execute", strings.NewReader(tc.body))
		request.Header.Set("Accept", eventStreamMIME)
		request.Header.Set("Last-Event-ID", "42")
		recorder := httptest.NewRecorder()
		handler.ServeHTTP(recorder, request)
		if recorder.Body.String() != tc.want {
			t.Fatalf("body %s: got %q", tc.body, recorder.Body.String())
		}
	}
}
