package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The request headers a browser may send cross-origin, and the response
// headers its scripts may read.
var (
	corsAllowedHeaders = "Authorization, X-API-Key, X-Request-Id, Content-Type, Accept, Accept-Language, Grpc-Timeout, Last-Event-ID"
	corsExposedHeaders = "X-Request-Id, X-Ratelimit-Limit, X-Ratelimit-Remaining, X-Ratelimit-Reset, Retry-After"
	corsAllowedMethods = "GET, POST, PATCH, PUT, DELETE"
)

// withCORS lets web front ends on the given origins ("*" for any) call the
// API; with no origins it adds nothing and browsers keep the same-origin rule.
// Credentials travel in headers, never cookies, so no Allow-Credentials.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !(anyOrigin || slices.Contains(origins, origin)) {
			next.ServeHTTP(w, r)
			return
		}
		header := w.Header()
		header.Add("Vary", "Origin")
		header.Set("Access-Control-Allow-Origin", origin)
		header.Set("Access-Control-Expose-Headers", corsExposedHeaders)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			header.Set("Access-Control-Allow-Methods", corsAllowedMethods)
			header.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
			header.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withAccessLog writes one line per request once it is answered (a stream
// when it ends): method, path, status, duration and request id.
func withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := time.Now()
		recorder := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(recorder, r)
		path := r.URL.Path
		if strings.ContainsAny(path, "\r\n") {
			path = strings.NewReplacer("\r", "%0D", "\n", "%0A").Replace(path)
		}
		durationMs := float64(time.Since(started).Microseconds()) / 1000
		requestID := w.Header().Get(requestIDHeader)
		slog.Info(fmt.Sprintf("%s %s %d %.1fms request_id=%s", r.Method, path, recorder.status, durationMs, requestID),
			"request_id", requestID, "method", r.Method, "path", path, "status", recorder.status, "duration_ms", durationMs)
	})
}

// statusRecorder remembers the status code; Unwrap keeps Flush reachable
// for http.ResponseController, which the streams need.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
