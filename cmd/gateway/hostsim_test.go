package main

import "testing"

func TestHostSimOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:8080": "127.0.0.1:8080",
		"127.0.0.1:8080": "localhost:8080",
		"localhost":      "127.0.0.1",
		"gw.example.com": "gw.example.com",
		"[::1]:8080":     "[::1]:8080",
	} {
		if got := otherLoopback(in); got != want {
			t.Errorf("otherLoopback(%q) = %q, want %q", in, got, want)
		}
	}
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":      "http://localhost:8080/hubspot/",
		"http://localhost:9000":      "http://127.0.0.1:9000/hubspot/",
		"https://dev.example.com":    "https://dev.example.com/hubspot/",
		"http://127.0.0.1:8080/base": "http://localhost:8080/hubspot/",
	} {
		if got := hostSimURL(base); got != want {
			t.Errorf("hostSimURL(%q) = %q, want %q", base, got, want)
		}
	}
}
