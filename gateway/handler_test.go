package main

import (
	"sort"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// A service added to the protos with HTTP routes must be registered too.
func TestEveryServiceWithHTTPRoutesIsRegistered(t *testing.T) {
	var routed []string
	protoregistry.GlobalFiles.RangeFilesByPackage("runwire.v1", func(file protoreflect.FileDescriptor) bool {
		for i := 0; i < file.Services().Len(); i++ {
			service := file.Services().Get(i)
			for j := 0; j < service.Methods().Len(); j++ {
				if proto.HasExtension(service.Methods().Get(j).Options(), annotations.E_Http) {
					routed = append(routed, string(service.Name()))
					break
				}
			}
		}
		return true
	})
	sort.Strings(routed)
	if len(routed) != len(registrations) {
		t.Fatalf("%d services have HTTP routes (%v) but %d are registered", len(routed), routed, len(registrations))
	}
}
