package sip

import (
	"log/slog"

	gosip "github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// SetProcessLogger routes sipgo's process-wide default logger (used by parts
// of sipgo that have no per-UA logger) into l, named "sipgo". Call it once
// from main before NewUA: sipgo reads the default logger without
// synchronisation. A nil l discards those logs.
func SetProcessLogger(l *zap.Logger) {
	gosip.SetDefaultLogger(slogLogger(l))
}

// slogLogger bridges a zap logger into the slog logger sipgo takes.
func slogLogger(l *zap.Logger) *slog.Logger {
	if l == nil {
		l = zap.NewNop()
	}
	l = l.Named("sipgo")
	return slog.New(zapslog.NewHandler(l.Core(), zapslog.WithName(l.Name())))
}
