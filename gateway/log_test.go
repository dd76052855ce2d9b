package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAccessLogIsOneJSONObjectWithTheRequestID(t *testing.T) {
	var out bytes.Buffer
	previous := slog.Default()
	slog.SetDefault(newLogger(&out))
	defer slog.SetDefault(previous)

	handler := withAccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(requestIDHeader, "req-42")
		w.WriteHeader(http.StatusNotFound)
	}))
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/agents/nope", nil))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %q", out.String())
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("the access line is not JSON: %v: %q", err, lines[0])
	}
	for key, want := range map[string]any{
		"level": "INFO", "logger": "runwire.gateway", "request_id": "req-42",
		"method": "GET", "path": "/v1/agents/nope", "status": float64(404),
	} {
		if entry[key] != want {
			t.Errorf("%s = %v, want %v (%q)", key, entry[key], want, lines[0])
		}
	}
	if _, ok := entry["message"].(string); !ok {
		t.Errorf("no message in %q", lines[0])
	}
}
