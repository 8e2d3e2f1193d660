package main

import (
	"strings"
	"testing"

	"github.com/hubline/hubline/sip"
)

// TestDTMFModeConfig: dtmfMode reaches sip.Trunk; a value that is no mode
// is an error naming the trunk and the field.
func TestDTMFModeConfig(t *testing.T) {
	st, err := sipTrunk(TrunkConfig{Name: "t", Address: "192.0.2.1", DTMFMode: "info"}, 0, nil, nil)
	if err != nil || st.DTMFMode != sip.DTMFInfo {
		t.Fatalf("%+v %v", st.DTMFMode, err)
	}
	_, err = parseConfig([]byte("trunk: {address: x, dtmfMode: inband}\nauth: {users: [{username: a, passwordHash: h, fromNumber: '+14155550100'}]}\n"))
	if err == nil || !strings.Contains(err.Error(), `dtmfMode "inband" is not rfc4733, info or auto`) {
		t.Errorf("dtmfMode inband: %v", err)
	}
}
