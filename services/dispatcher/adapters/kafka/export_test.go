package kafka

// SetBeforePark makes a run f where its drain is about to park (see
// AuditLog.beforePark); call it before Start.
func SetBeforePark(a *AuditLog, f func()) { a.beforePark = f }
