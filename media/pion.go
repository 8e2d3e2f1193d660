package media

import (
	"github.com/pion/logging"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// pionLoggerFactory bridges pion's logging into zap. Each pion scope
// becomes a named child logger (pion.ice, pion.dtls, …). pion's Info and
// Warn messages are per-connection chatter (a teardown alone logs several
// warnings) and go to Debug; its Errors go to Warn: a connection that fails
// is reported by the Session's event, with the call's ids. Trace goes
// nowhere.
type pionLoggerFactory struct{ log *zap.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	l := f.log.Named(scope).WithOptions(zap.AddCallerSkip(1))
	return pionLogger{log: l, sugar: l.Sugar()}
}

type pionLogger struct {
	log   *zap.Logger
	sugar *zap.SugaredLogger
}

func (pionLogger) Trace(string)                {}
func (pionLogger) Tracef(string, ...any)       {}
func (l pionLogger) Debug(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Info(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any)  { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Warn(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Warnf(f string, a ...any)  { l.logf(zapcore.DebugLevel, f, a) }
func (l pionLogger) Error(msg string)          { l.log.Warn(msg) }
func (l pionLogger) Errorf(f string, a ...any) { l.logf(zapcore.WarnLevel, f, a) }

// logf formats only when the level is enabled.
func (l pionLogger) logf(lvl zapcore.Level, format string, args []any) {
	if l.log.Core().Enabled(lvl) {
		l.sugar.Logf(lvl, format, args...)
	}
}
