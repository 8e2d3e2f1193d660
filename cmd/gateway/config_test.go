package main

import (
	"os"
	"strings"
	"testing"

	"github.com/hubline/hubline/configs"
)

func TestShippedConfigsParse(t *testing.T) {
	for name, data := range map[string][]byte{"embedded local.yaml": configs.Local, "example.yaml": mustRead(t, "../../configs/example.yaml")} {
		cfg, err := parseConfig(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(cfg.Trunks) == 0 && !cfg.DemoTrunk.Enabled {
			t.Errorf("%s: no trunk", name)
		}
	}
	local, err := parseConfig(configs.Local)
	if err != nil {
		t.Fatal(err)
	}
	if !local.DemoTrunk.Enabled || local.Mode != "development" || local.Trunk.Address != "" {
		t.Errorf("local.yaml must run the demo trunk in development mode: %+v %+v", local.DemoTrunk, local.Trunk)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every mistake in a config file is reported at once, each naming its field.
func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		yaml string
		want []string
	}{
		{"mode: staging\n", []string{`mode "staging"`}},
		{"trunk: {address: x}\nauth: {users: [{username: a, passwordHash: h, fromNumber: '+14155550100'}]}\nbogus: 1\n", []string{"field bogus not found"}},
		{"mode: production\ndemoTrunk: {enabled: true}\nauth: {users: [{username: a, passwordHash: h, fromNumber: '+1'}]}\n",
			[]string{"demoTrunk.enabled: the demo trunk is for development only"}},
		{"trunk: {address: x, transport: sctp}\nmedia: {rtpPorts: 20000-100, iceNetworks: [nonsense], iceServers: [{urls: ['http://x']}]}\n",
			[]string{"auth.users", "trunk.transport \"sctp\"", "media.rtpPorts", "media.iceNetworks \"nonsense\"", `"http://x" is not a stun:`}},
		{"auth: {users: [{username: a}]}\n", []string{"auth.users[0]: username, passwordHash and fromNumber are required", "trunk.address is required"}},
	}
	for _, tc := range cases {
		_, err := parseConfig([]byte(tc.yaml))
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %q", tc.yaml, err, w)
			}
		}
	}
}
