package engine

// Snapshotted reports whether m, a module of the wazero engine, holds a
// snapshot from which instances named name start.
func Snapshotted(m Module, name string) bool {
	wm := m.(*wazeroModule)
	wm.sm.mu.Lock()
	defer wm.sm.mu.Unlock()
	return wm.sm.snaps[name] != nil
}
