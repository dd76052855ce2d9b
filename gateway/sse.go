package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
)

const eventStreamMIME = "text/event-stream"

// eventStreamMarshaler writes a server stream as Server-Sent Events: each
// message is one "data:" event holding its JSON; a failure mid-stream is an
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
	event, payload := "", v
	switch chunk := v.(type) {
	case map[string]interface{}:
		if result, ok := chunk["result"]; ok && len(chunk) == 1 {
			payload = result
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
	return formatEvent(event, data), nil
}

// formatEvent writes one event without its final blank line; multi-line data
// (indented JSON) becomes one "data:" field per line.
func formatEvent(event string, data []byte) []byte {
	var out bytes.Buffer
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
