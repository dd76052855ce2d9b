package runwire

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorInfo returns the google.rpc.ErrorInfo detail of a call's error (its
// stable Reason, e.g. "AGENT_NOT_FOUND", and metadata), or nil.
func ErrorInfo(err error) *errdetails.ErrorInfo {
	for _, detail := range status.Convert(err).Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// Reason is ErrorInfo(err).Reason, or "" when the error carries none.
func Reason(err error) string { return ErrorInfo(err).GetReason() }

// FieldViolations returns the google.rpc.BadRequest field violations of an
// INVALID_ARGUMENT error: which request fields were wrong, and why.
func FieldViolations(err error) []*errdetails.BadRequest_FieldViolation {
	var violations []*errdetails.BadRequest_FieldViolation
	for _, detail := range status.Convert(err).Details() {
		if bad, ok := detail.(*errdetails.BadRequest); ok {
			violations = append(violations, bad.GetFieldViolations()...)
		}
	}
	return violations
}

// Code is the gRPC status code of err (codes.OK for nil).
func Code(err error) codes.Code { return status.Code(err) }
