package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"

	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

const eventStreamMIME = "text/event-stream"

// eventStreamMarshaler writes a server stream as Server-Sent Events: each
// message is one "data:" event holding its JSON, with an "id:" where the
// message has a resume position (see eventID); a failure mid-stream is an
// "error" event holding the google.rpc.Status. Requests are still read as JSON.
type eventStreamMarshaler struct {
	json *runtime.JSONPb
}

var _ runtime.Marshaler = (*eventStreamMarshaler)(nil)
var _ runtime.Delimited = (*eventStreamMarshaler)(nil)

func (m *eventStreamMarshaler) ContentType(_ interface{}) string { return eventStreamMIME }

// Delimiter ends each event with the blank line SSE requires.
func (m *eventStreamMarshaler) Delimiter() []byte { return []byte("\n\n") }

// Marshal receives the chunks runtime.ForwardResponseStream builds:
// {"result": message} for each message and {"error": status} for a failure.
func (m *eventStreamMarshaler) Marshal(v interface{}) ([]byte, error) {
	event, id, payload := "", "", v
	switch chunk := v.(type) {
	case map[string]interface{}:
		if result, ok := chunk["result"]; ok && len(chunk) == 1 {
			payload = result
			if message, isMessage := result.(proto.Message); isMessage {
				id = eventID(message)
			}
		}
	case map[string]proto.Message:
		if status, ok := chunk["error"]; ok && len(chunk) == 1 {
			event, payload = "error", status
		}
	}
	data, err := m.json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return formatEvent(event, id, data), nil
}

// eventID is where a stream can resume after this message, which a browser
// sends back as Last-Event-ID on reconnecting (see withLastEventID): a run
// event's seq, the seq of the last event merged into a token message, the
// cursor of a Subscribe event, or of its caught_up and heartbeat. Snapshots
// (WatchBatch, WatchFile) have none: a new watch starts with the state now.
func eventID(message proto.Message) string {
	switch m := message.(type) {
	case *runwirev1.RunEvent:
		return strconv.FormatInt(m.GetSeq(), 10)
	case *runwirev1.StreamTokensResponse:
		return strconv.FormatInt(m.GetSeq(), 10)
	case *runwirev1.SubscribeResponse:
		switch {
		case m.GetEvent() != nil:
			return m.GetEvent().GetCursor()
		case m.GetCaughtUp() != nil:
			return m.GetCaughtUp().GetCursor()
		case m.GetHeartbeat() != nil:
			return m.GetHeartbeat().GetCursor()
		}
	}
	return ""
}

// formatEvent writes one event without its final blank line; multi-line data
// (indented JSON) becomes one "data:" field per line.
func formatEvent(event, id string, data []byte) []byte {
	var out bytes.Buffer
	if id != "" && !strings.ContainsAny(id, "\r\n") {
		fmt.Fprintf(&out, "id: %s\n", id)
	}
	if event != "" {
		fmt.Fprintf(&out, "event: %s\n", event)
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if i > 0 {
			out.WriteByte('\n')
		}
		out.WriteString("data: ")
		out.Write(line)
	}
	return out.Bytes()
}

func (m *eventStreamMarshaler) Unmarshal(data []byte, v interface{}) error {
	return m.json.Unmarshal(data, v)
}

func (m *eventStreamMarshaler) NewDecoder(r io.Reader) runtime.Decoder { return m.json.NewDecoder(r) }

func (m *eventStreamMarshaler) NewEncoder(w io.Writer) runtime.Encoder { return m.json.NewEncoder(w) }
