// Command chat creates an agent and a session, then streams the reply to
// one message token by token.
//
//	RUNWIRE_SERVER=127.0.0.1:50051 RUNWIRE_API_KEY=rw_... go run ./clients/go/examples/chat "Hello!"
//
// It reads the variables every Runwire client reads: RUNWIRE_SERVER,
// RUNWIRE_API_KEY and RUNWIRE_TOKEN (a JWT, sent as a bearer token).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/runwire/runwire/clients/go/runwire"
	runwirev1 "github.com/runwire/runwire/generated/go/runwire/v1"
)

func main() {
	address := os.Getenv("RUNWIRE_SERVER")
	if address == "" {
		if address = os.Getenv("RUNWIRE_ADDRESS"); address != "" {
			log.Print("RUNWIRE_ADDRESS is deprecated: use RUNWIRE_SERVER, as every Runwire client does")
		}
	}
	if address == "" {
		address = "127.0.0.1:50051"
	}
	// Both go as `authorization: Bearer`; the server tells a key from a JWT.
	credential := os.Getenv("RUNWIRE_TOKEN")
	if credential == "" {
		credential = os.Getenv("RUNWIRE_API_KEY")
	}
	text := strings.Join(os.Args[1:], " ")
	if text == "" {
		text = "Hello from Go!"
	}
	client, err := runwire.Dial(address, runwire.WithAPIKey(credential), runwire.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := chat(ctx, client, text); err != nil {
		log.Fatalf("%v (reason %q)", err, runwire.Reason(err))
	}
}

func chat(ctx context.Context, client *runwire.Client, text string) error {
	agent, err := client.Agents.CreateAgent(ctx, &runwirev1.CreateAgentRequest{
		Agent: &runwirev1.Agent{DisplayName: "Go example", Instructions: "Answer briefly."},
	})
	if err != nil {
		return err
	}
	session, err := client.Sessions.CreateSession(ctx, &runwirev1.CreateSessionRequest{
		Session: &runwirev1.Session{Agent: agent.GetName()},
	})
	if err != nil {
		return err
	}
	stream, err := client.Runs.StreamTokens(ctx, &runwirev1.StreamTokensRequest{
		Session: session.GetName(),
		Input:   []*runwirev1.ContentPart{{Kind: &runwirev1.ContentPart_Text{Text: text}}},
	})
	if err != nil {
		return err
	}
	for {
		token, err := stream.Recv()
		if err == io.EOF {
			fmt.Println()
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Print(token.GetText())
	}
}
