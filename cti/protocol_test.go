package cti

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeClientMessages(t *testing.T) {
	good := []string{
		`{"v":1,"type":"login","username":"a","password":"b"}`,
		`{"v":1,"type":"resume","token":"t"}`,
		`{"v":1,"type":"logout"}`,
		`{"v":1,"type":"ping","id":"x"}`,
		`{"v":1,"type":"sdk","name":"onReady"}`,
		`{"v":1,"type":"sdk","name":"onDialNumber","data":{"phoneNumber":"+1"}}`,
		`{"v":1,"type":"dial","toNumber":"+14155550100"}`,
		`{"v":1,"type":"offer","callId":"c","sdp":"v=0"}`,
		`{"v":1,"type":"candidate","callId":"c","candidate":{"candidate":"","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"v":1,"type":"hangup","callId":"c"}`,
		`{"v":1,"type":"wrapUp","callId":"c","outcome":"","notes":""}`,
		`{"v":1,"type":"accept","callId":"c"}`,
		`{"v":1,"type":"decline","callId":"c","id":"d"}`,
		`{"v":1,"type":"openRecord","callId":"c"}`,
		`{"v":1,"type":"setAvailable","available":false}`,
		`{"v":1,"type":"hold","callId":"c"}`,
		`{"v":1,"type":"unhold","callId":"c","id":"u"}`,
	}
	for _, f := range good {
		if _, err := decodeClientMsg([]byte(f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	bad := map[string]string{
		``:                             "bad_json",
		`null`:                         "bad_json",
		`"x"`:                          "bad_json",
		`{"v":1,"type":"ping"}{"v":1}`: "bad_json",
		`{"v":"1","type":"ping"}`:      "bad_message",
		`{"v":1}`:                      "bad_message",
		`{"v":1,"type":7}`:             "bad_message",
		`{"v":1,"type":"ping","id":"` + strings.Repeat("x", 65) + `"}`:                      "bad_message",
		`{"v":1,"type":"sdk","name":"onReady","data":[1]}`:                                  "bad_message",
		`{"v":1,"type":"candidate","callId":"c"}`:                                           "bad_message",
		`{"v":1,"type":"wrapUp","callId":"c","notes":"` + strings.Repeat("n", 10001) + `"}`: "bad_message",
		`{"v":1,"type":"accept"}`:                                                           "bad_message",
		`{"v":1,"type":"accept","callId":"c","sdp":"x"}`:                                    "bad_message",
		`{"v":1,"type":"setAvailable"}`:                                                     "bad_message",
		`{"v":1,"type":"hold"}`:                                                             "bad_message",
		`{"v":1,"type":"unhold","callId":""}`:                                               "bad_message",
		`{"v":1,"type":"hold","callId":"c","hold":true}`:                                    "bad_message",
		`{"v":1,"type":"setAvailable","available":"yes"}`:                                   "bad_message",
	}
	for f, code := range bad {
		_, err := decodeClientMsg([]byte(f))
		if err == nil || err.Code != code {
			t.Errorf("%.60s: got %v, want %s", f, err, code)
		}
	}
}

// FuzzDecodeClientMsg: any frame gives a message or a coded error with a
// message, never a panic, and every accepted message validates.
func FuzzDecodeClientMsg(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"login","username":"a","password":"b"}`,
		`{"v":1,"type":"sdk","name":"onDialNumber","data":{"phoneNumber":"+1"}}`,
		`{"v":1,"type":"candidate","callId":"c","candidate":{"candidate":"x"}}`,
		`{"v":1,"type":"wrapUp","callId":"c","outcome":"busy","notes":"n"}`,
		`{"v":1,"type":"accept","callId":"c"}`, `{"v":1,"type":"setAvailable","available":true}`,
		`{"v":1,"type":"hold","callId":"c"}`, `{"v":1,"type":"unhold","callId":"c"}`,
		`{"v":1,"type":"dtmf","callId":"c","digits":"12#"}`,
		`{"v":1e400}`, `{"v":1,"type":"dial","toNumber":null}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, perr := decodeClientMsg(frame)
		if (m == nil) == (perr == nil) {
			t.Fatalf("exactly one of message and error expected: %v %v", m, perr)
		}
		if perr != nil {
			if perr.Code == "" || perr.Message == "" {
				t.Fatalf("error without code or message: %+v", perr)
			}
			return
		}
		if m.env().V != 1 || newClientMsg[m.env().Type] == nil {
			t.Fatalf("accepted %+v", m.env())
		}
		if err := m.validate(); err != nil {
			t.Fatalf("accepted a message that does not validate: %v", err)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	})
}
