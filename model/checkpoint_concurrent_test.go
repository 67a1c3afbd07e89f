// A reader of a checkpoint that a run is saving meanwhile (sample beside train) always gets a whole one, old or new.
package model

import (
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadWhileSaving(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	mustSave(t, dir, tinyCheckpoint(1))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(2); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := Save(dir, tinyCheckpoint(1+i%4)); err != nil {
				t.Errorf("save %d: %v", i, err)
				return
			}
		}
	})
	for i := range 400 {
		if _, err := Load(dir); err != nil {
			t.Errorf("load %d while saving: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
}
