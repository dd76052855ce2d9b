package main

import (
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestAMessageIsOneDataEventWithoutTheResultWrapper(t *testing.T) {
	m := &eventStreamMarshaler{json: &runtime.JSONPb{}}
	got, err := m.Marshal(map[string]interface{}{"result": wrapperspb.String("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `data: "hi"` {
		t.Fatalf("got %q", got)
	}
}

func TestAFailureIsAnErrorEventWithTheStatus(t *testing.T) {
	m := &eventStreamMarshaler{json: &runtime.JSONPb{}}
	got, err := m.Marshal(map[string]proto.Message{"error": status.New(codes.NotFound, "gone").Proto()})
	if err != nil {
		t.Fatal(err)
	}
	data, found := strings.CutPrefix(string(got), "event: error\ndata: ")
	if !found {
		t.Fatalf("not an error event: %q", got)
	}
	var decoded spb.Status
	if err := protojson.Unmarshal([]byte(data), &decoded); err != nil {
		t.Fatal(err)
	}
	if codes.Code(decoded.GetCode()) != codes.NotFound || decoded.GetMessage() != "gone" {
		t.Fatalf("got %v", &decoded)
	}
}

func TestMultiLineDataBecomesOneFieldPerLine(t *testing.T) {
	indented := &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{Multiline: true, Indent: " "}}
	m := &eventStreamMarshaler{json: indented}
	got, err := m.Marshal(map[string]interface{}{"result": status.New(codes.NotFound, "gone").Proto()})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(got), "\n")
	if len(lines) < 2 {
		t.Fatalf("expected indented JSON over several lines: %q", got)
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, "data: ") {
			t.Fatalf("every line must be a data field: %q", got)
		}
	}
}
