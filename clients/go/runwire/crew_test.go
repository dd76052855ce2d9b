package runwire_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/runwire/runwire/clients/go/runwire"
	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

// fastAgent is an agent of the builtin provider that streams as fast as it is read.
func fastAgent(ctx context.Context, t *testing.T, client *runwire.Client, name string) string {
	t.Helper()
	options, err := structpb.NewStruct(map[string]any{"tokens_per_second": 100000})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.Agents.CreateAgent(ctx, &runwirev1.CreateAgentRequest{Agent: &runwirev1.Agent{
		DisplayName: name, Model: &runwirev1.ModelConfig{Options: options},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return agent.GetName()
}

func TestCrewLifecycle(t *testing.T) {
	client := dial(t)
	ctx := context.Background()
	writer := fastAgent(ctx, t, client, "Writer")
	created, err := client.Crews.CreateCrew(ctx, &runwirev1.CreateCrewRequest{Crew: &runwirev1.Crew{
		DisplayName: "Go crew",
		Members:     []*runwirev1.CrewMember{{Id: "write", Agent: writer}},
		Tasks:       []*runwirev1.CrewTask{{Id: "draft", Description: "Draft it"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetProcess() != runwirev1.Crew_PROCESS_SEQUENTIAL {
		t.Fatalf("an unset process is SEQUENTIAL, got %v", created.GetProcess())
	}
	updated, err := client.Crews.UpdateCrew(ctx, &runwirev1.UpdateCrewRequest{
		Crew:       &runwirev1.Crew{Name: created.GetName(), Process: runwirev1.Crew_PROCESS_PARALLEL, Etag: created.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"process"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetProcess() != runwirev1.Crew_PROCESS_PARALLEL || len(updated.GetTasks()) != 1 {
		t.Fatalf("the mask should change only the process: %v", updated)
	}
	_, err = client.Crews.UpdateCrew(ctx, &runwirev1.UpdateCrewRequest{
		Crew:       &runwirev1.Crew{Name: created.GetName(), Description: "stale", Etag: created.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	})
	if runwire.Code(err) != codes.Aborted {
		t.Fatalf("a stale etag: want ABORTED, got %v", err)
	}
	listed, err := client.Crews.ListCrews(ctx, &runwirev1.ListCrewsRequest{Filter: "process = PARALLEL", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, crew := range listed.GetCrews() {
		found = found || crew.GetName() == created.GetName()
	}
	if !found {
		t.Fatalf("filter by process did not find %s", created.GetName())
	}
	if _, err := client.Crews.DeleteCrew(ctx, &runwirev1.DeleteCrewRequest{Name: created.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Crews.GetCrew(ctx, &runwirev1.GetCrewRequest{Name: created.GetName()})
	if runwire.Code(err) != codes.NotFound || runwire.Reason(err) != "CREW_NOT_FOUND" {
		t.Fatalf("a deleted crew: want NOT_FOUND with reason CREW_NOT_FOUND, got %v", err)
	}
}

func TestExecutingACrewStreamsThePlanChildEventsAndTheFinalAnswer(t *testing.T) {
	client := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	researcher, writer := fastAgent(ctx, t, client, "Researcher"), fastAgent(ctx, t, client, "Writer")
	crew, err := client.Crews.CreateCrew(ctx, &runwirev1.CreateCrewRequest{Crew: &runwirev1.Crew{
		DisplayName: "Go blog",
		Members:     []*runwirev1.CrewMember{{Id: "research", Agent: researcher}, {Id: "write", Agent: writer}},
		Tasks: []*runwirev1.CrewTask{
			{Id: "facts", Description: "[[tokens:3]]", Member: "research"},
			{Id: "post", Description: "Write the post", Member: "write", Context: []string{"facts"}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := client.Runs.ExecuteAgent(ctx, &runwirev1.ExecuteAgentRequest{
		Crew:  crew.GetName(),
		Input: []*runwirev1.ContentPart{{Kind: &runwirev1.ContentPart_Text{Text: "Tides"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var plan *runwirev1.CrewPlan
	var answer, factsText strings.Builder
	var last *runwirev1.RunEvent
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = event
		switch payload := event.GetPayload().(type) {
		case *runwirev1.RunEvent_CrewPlanUpdated:
			plan = payload.CrewPlanUpdated.GetPlan()
		case *runwirev1.RunEvent_TextDelta:
			answer.WriteString(payload.TextDelta.GetText())
		case *runwirev1.RunEvent_ChildRunEvent:
			child := payload.ChildRunEvent
			if child.GetCrewTask() == "facts" && child.GetCrewMember() == "research" {
				factsText.WriteString(child.GetEvent().GetTextDelta().GetText())
			}
		}
	}
	completed := last.GetRunCompleted()
	if completed == nil {
		t.Fatalf("the crew run should end completed, ended with %v", last)
	}
	if plan == nil || len(plan.GetTasks()) != 2 || plan.GetTasks()[1].GetState() != runwirev1.CrewPlanTask_STATE_SUCCEEDED {
		t.Fatalf("the last plan should hold both tasks succeeded: %v", plan)
	}
	if factsText.String() != "t1 t2 t3" {
		t.Fatalf("the researcher's tokens come as child events: got %q", factsText.String())
	}
	if answer.String() != completed.GetOutput().GetText() || answer.String() != plan.GetTasks()[1].GetOutput() {
		t.Fatalf("the crew's own tokens are its final answer: %q, output %q", answer.String(), completed.GetOutput().GetText())
	}
	children, err := client.Runs.ListRuns(ctx, &runwirev1.ListRunsRequest{Filter: `parent_run = "` + last.GetRun() + `"`, OrderBy: "create_time"})
	if err != nil {
		t.Fatal(err)
	}
	if len(children.GetRuns()) != 2 || children.GetRuns()[0].GetCrewTask() != "facts" || children.GetRuns()[1].GetCrewTask() != "post" {
		t.Fatalf("the crew run's children are its tasks in order: %v", children.GetRuns())
	}
}
