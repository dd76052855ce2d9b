package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

const (
	lastEventIDHeader = "Last-Event-ID"
	subscribePath     = "/v1/events:subscribe"
	// maxResumeBody bounds the request body withLastEventID reads to rewrite.
	maxResumeBody = 1 << 20
)

// withLastEventID resumes an event stream after the event whose id a
// reconnecting client sends as Last-Event-ID (an EventSource does so by
// itself), so exactly the missed events follow:
//   - GET runs/{id}:streamEvents: the id is a seq and becomes `after_seq`;
//   - POST events:subscribe: the id is a cursor and becomes the request's
//     `cursor` (replacing `fromNow` or `fromBeginningOfRetention`);
//   - POST sessions/{id}:execute with a `requestId`: the retry follows the
//     same run from seq 1 (ExecuteAgent's idempotency), and the gateway drops
//     the events up to the id. Without a requestId a retry starts a new run,
//     so the header is ignored.
//
// StreamTokens ids are seqs too, but its retry may merge deltas differently,
// so it cannot resume exactly: follow the run with
// `runs/{id}:streamEvents?afterSeq=<id>` instead.
func withLastEventID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := strings.TrimSpace(r.Header.Get(lastEventIDHeader))
		if last == "" || !acceptsEventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ":streamEvents"):
			query := r.URL.Query()
			query.Del("afterSeq")
			query.Set("after_seq", last) // not a number: the usual 400 for after_seq
			r.URL.RawQuery = query.Encode()
		case r.Method == http.MethodPost && r.URL.Path == subscribePath:
			rewriteBody(r, func(body map[string]json.RawMessage) bool {
				for _, start := range []string{"cursor", "fromNow", "from_now", "fromBeginningOfRetention", "from_beginning_of_retention"} {
					delete(body, start)
				}
				body["cursor"], _ = json.Marshal(last)
				return true
			})
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, ":execute"):
			lastSeq, err := strconv.ParseInt(last, 10, 64)
			if err != nil {
				break
			}
			retried := false
			rewriteBody(r, func(body map[string]json.RawMessage) bool {
				_, camel := body["requestId"]
				_, snake := body["request_id"]
				retried = camel || snake
				return false
			})
			if retried {
				filter := &seenEventFilter{ResponseWriter: w, lastSeq: lastSeq}
				next.ServeHTTP(filter, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rewriteBody lets edit change a JSON object body; the body is restored as
// it was when it is not a JSON object (the gateway then answers its 400) or
// when edit returns false.
func rewriteBody(r *http.Request, edit func(map[string]json.RawMessage) bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxResumeBody+1))
	_ = r.Body.Close()
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), r.Body))
	if err != nil || len(raw) > maxResumeBody {
		return
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(raw, &body) != nil || body == nil || !edit(body) {
		return
	}
	rewritten, err := json.Marshal(body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(rewritten))
	r.ContentLength = int64(len(rewritten))
	r.Header.Set("Content-Length", strconv.Itoa(len(rewritten)))
}

// seenEventFilter drops the SSE events whose id is a seq the client has
// already received; other events (errors) pass.
type seenEventFilter struct {
	http.ResponseWriter
	lastSeq int64
	pending []byte
}

func (f *seenEventFilter) Write(data []byte) (int, error) {
	if !strings.HasPrefix(f.Header().Get("Content-Type"), eventStreamMIME) {
		return f.ResponseWriter.Write(data) // an error answered as JSON
	}
	f.pending = append(f.pending, data...)
	for {
		end := bytes.Index(f.pending, []byte("\n\n"))
		if end < 0 {
			return len(data), nil
		}
		event := f.pending[:end+2]
		if !f.seen(event) {
			if _, err := f.ResponseWriter.Write(event); err != nil {
				return 0, err
			}
		}
		f.pending = f.pending[end+2:]
	}
}

func (f *seenEventFilter) seen(event []byte) bool {
	first, _, _ := bytes.Cut(event, []byte("\n"))
	id, isID := bytes.CutPrefix(first, []byte("id: "))
	if !isID {
		return false
	}
	seq, err := strconv.ParseInt(string(id), 10, 64)
	return err == nil && seq <= f.lastSeq
}

// Flush sends what is complete; http.ResponseController finds it.
func (f *seenEventFilter) Flush() {
	if flusher, ok := f.ResponseWriter.(http.Flusher); ok {
		flusher.Flush()
	} else {
		_ = http.NewResponseController(f.ResponseWriter).Flush()
	}
}

func (f *seenEventFilter) Unwrap() http.ResponseWriter { return f.ResponseWriter }
