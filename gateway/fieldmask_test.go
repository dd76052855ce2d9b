package main

import "testing"

func TestProtoFieldMaskTakesJSONAndProtoNames(t *testing.T) {
	cases := map[string]string{
		"displayName":                         "display_name",
		"displayName,limits.maxSteps":         "display_name,limits.max_steps",
		"display_name, limits.max_steps":      "display_name,limits.max_steps",
		"instructions":                        "instructions",
		"model.baseUrl,model.maxOutputTokens": "model.base_url,model.max_output_tokens",
	}
	for mask, want := range cases {
		if got := protoFieldMask(mask); got != want {
			t.Errorf("protoFieldMask(%q) = %q, want %q", mask, got, want)
		}
	}
}
