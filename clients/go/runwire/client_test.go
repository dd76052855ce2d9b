package runwire_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/runwire/runwire/clients/go/runwire"
	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

// These tests talk to a live server: RUNWIRE_TEST_ADDRESS (host:port,
// plaintext) and RUNWIRE_TEST_API_KEY. The Python suite starts one and runs them.
func dial(t *testing.T, opts ...runwire.Option) *runwire.Client {
	t.Helper()
	address := os.Getenv("RUNWIRE_TEST_ADDRESS")
	if address == "" {
		t.Skip("RUNWIRE_TEST_ADDRESS is not set (make test starts a server and sets it)")
	}
	opts = append([]runwire.Option{runwire.WithAPIKey(os.Getenv("RUNWIRE_TEST_API_KEY")), runwire.WithInsecure()}, opts...)
	client, err := runwire.Dial(address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func TestAgentLifecycleWithFieldMask(t *testing.T) {
	client := dial(t)
	ctx := context.Background()
	label := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	created, err := client.Agents.CreateAgent(ctx, &runwirev1.CreateAgentRequest{Agent: &runwirev1.Agent{
		DisplayName: "Go agent", Instructions: "Be brief.", Labels: map[string]string{"suite": label},
	}})
	if err != nil {
		t.Fatal(err)
	}
	updated, err := client.Agents.UpdateAgent(ctx, &runwirev1.UpdateAgentRequest{
		Agent:      &runwirev1.Agent{Name: created.GetName(), DisplayName: "Renamed", Instructions: "ignored: not in the mask"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetDisplayName() != "Renamed" || updated.GetInstructions() != "Be brief." {
		t.Fatalf("the mask should change only display_name: %v", updated)
	}
	listed, err := client.Agents.ListAgents(ctx, &runwirev1.ListAgentsRequest{Filter: `labels.suite = "` + label + `"`})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.GetAgents()) != 1 || listed.GetAgents()[0].GetName() != created.GetName() {
		t.Fatalf("filter by label found %v", listed.GetAgents())
	}
	if _, err := client.Agents.DeleteAgent(ctx, &runwirev1.DeleteAgentRequest{Name: created.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Agents.GetAgent(ctx, &runwirev1.GetAgentRequest{Name: created.GetName()})
	if runwire.Code(err) != codes.NotFound || runwire.Reason(err) != "AGENT_NOT_FOUND" {
		t.Fatalf("a deleted agent: want NOT_FOUND with reason AGENT_NOT_FOUND, got %v (reason %q)", err, runwire.Reason(err))
	}
	if resource := runwire.ErrorInfo(err).GetMetadata()["resource"]; resource != created.GetName() {
		t.Fatalf("ErrorInfo names the resource: got %q", resource)
	}
}

func TestInvalidRequestNamesTheField(t *testing.T) {
	client := dial(t)
	_, err := client.Agents.CreateAgent(context.Background(), &runwirev1.CreateAgentRequest{Agent: &runwirev1.Agent{}})
	if runwire.Code(err) != codes.InvalidArgument {
		t.Fatalf("want INVALID_ARGUMENT, got %v", err)
	}
	violations := runwire.FieldViolations(err)
	if len(violations) == 0 || violations[0].GetField() != "agent.display_name" {
		t.Fatalf("want a violation on agent.display_name, got %v", violations)
	}
}

func TestStreamTokensDeliversTheWholeReply(t *testing.T) {
	client := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	agent, err := client.Agents.CreateAgent(ctx, &runwirev1.CreateAgentRequest{Agent: &runwirev1.Agent{DisplayName: "Streamer"}})
	if err != nil {
		t.Fatal(err)
	}
	session, err := client.Sessions.CreateSession(ctx, &runwirev1.CreateSessionRequest{Session: &runwirev1.Session{Agent: agent.GetName()}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := client.Runs.StreamTokens(ctx, &runwirev1.StreamTokensRequest{
		Session: session.GetName(),
		Input:   []*runwirev1.ContentPart{{Kind: &runwirev1.ContentPart_Text{Text: "ping from Go"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	final := false
	for {
		token, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(token.GetText())
		final = final || token.GetFinal()
	}
	if !final || !strings.Contains(text.String(), "ping from Go") {
		t.Fatalf("want the echoed reply and a final token, got %q (final %v)", text.String(), final)
	}
}

func TestWrongKeyIsUnauthenticated(t *testing.T) {
	client := dial(t, runwire.WithAPIKey("rw_not_a_key"))
	_, err := client.Agents.ListAgents(context.Background(), &runwirev1.ListAgentsRequest{})
	if runwire.Code(err) != codes.Unauthenticated {
		t.Fatalf("want UNAUTHENTICATED, got %v", err)
	}
}

func TestUnaryCallsGetTheDefaultDeadline(t *testing.T) {
	// A deadline that has passed before the call is sent: the call must fail
	// with DEADLINE_EXCEEDED, which proves the default was applied.
	client := dial(t, runwire.WithTimeout(time.Nanosecond))
	_, err := client.Agents.ListAgents(context.Background(), &runwirev1.ListAgentsRequest{})
	if runwire.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("want DEADLINE_EXCEEDED, got %v", err)
	}
}
