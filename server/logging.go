package server

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/portico-health/portico/internal/clientaddr"
)

// requestLogger logs one line per request with its request id and client address
// (clientaddr.From). It logs the path but never the query string or bodies: search parameters
// and resources can hold PHI.
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // writes the OperationOutcome so that the status below is final
			}
			res := c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.String("client", clientaddr.From(c.Request())),
				slog.Int("status", res.Status),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
			return nil
		}
	}
}
