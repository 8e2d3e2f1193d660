package main

import (
	"bytes"
	"fmt"

	"github.com/hubline/hubline/internal/audio"
)

// musicOnHold reads calls.musicOnHold (a WAV file; any rate and channel
// count is converted to 8 kHz mono) into G.711 µ-law for cti.Options. An
// empty path: nil, silence while a rep holds a call.
func musicOnHold(path string, readFile func(string) ([]byte, error)) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("calls.musicOnHold: %w", err)
	}
	pcm, err := audio.ReadWAV(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("calls.musicOnHold: %s: %w", path, err)
	}
	return audio.PCMU.Encode(nil, pcm), nil
}
