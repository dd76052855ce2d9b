package main

import (
	"net/http"
	"strings"
	"unicode"
)

// updateMaskParams are the query names of an update mask (AIP-134) the
// gateway accepts: the JSON name and the proto name.
var updateMaskParams = []string{"updateMask", "update_mask"}

// withProtoFieldMask lets REST callers write the update mask with the JSON
// names of the fields they send (`?updateMask=displayName,limits.maxSteps`),
// as in the body, by rewriting them to the proto names the server checks.
func withProtoFieldMask(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		changed := false
		for _, param := range updateMaskParams {
			values, ok := query[param]
			if !ok {
				continue
			}
			for i, value := range values {
				values[i] = protoFieldMask(value)
			}
			changed = true
		}
		if changed {
			r.URL.RawQuery = query.Encode()
		}
		next.ServeHTTP(w, r)
	})
}

// protoFieldMask rewrites "displayName,limits.maxSteps" to
// "display_name,limits.max_steps"; proto names pass unchanged.
func protoFieldMask(mask string) string {
	paths := strings.Split(mask, ",")
	for i, path := range paths {
		parts := strings.Split(strings.TrimSpace(path), ".")
		for j, part := range parts {
			parts[j] = snakeCase(part)
		}
		paths[i] = strings.Join(parts, ".")
	}
	return strings.Join(paths, ",")
}

func snakeCase(name string) string {
	var out strings.Builder
	for _, r := range name {
		if unicode.IsUpper(r) {
			out.WriteByte('_')
			r = unicode.ToLower(r)
		}
		out.WriteRune(r)
	}
	return out.String()
}
