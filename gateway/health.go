package main

import (
	"context"
	"net/http"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type health struct {
	client  healthpb.HealthClient
	timeout time.Duration
}

func newHealth(conn *grpc.ClientConn, timeout time.Duration) *health {
	return &health{client: healthpb.NewHealthClient(conn), timeout: timeout}
}

// live answers while the process serves HTTP, whatever the server's state.
func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

// ready asks the server's grpc.health.v1 service (the whole server, or the
// service named by ?service=) and answers 503 unless it is SERVING.
func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	reply, err := h.client.Check(ctx, &healthpb.HealthCheckRequest{Service: r.URL.Query().Get("service")})
	switch {
	case err != nil:
		writeText(w, http.StatusServiceUnavailable, "upstream unavailable: "+err.Error())
	case reply.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		writeText(w, http.StatusServiceUnavailable, reply.GetStatus().String())
	default:
		writeText(w, http.StatusOK, "SERVING")
	}
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}
