"""ui_heap: the server's long-lived objects leave the garbage collector's work, a bounded number of times."""
import gc
import sys
import types

import ui.heap as ui_heap


def test_freeze_happens_once_per_batch_of_imports():
    gc.unfreeze()
    ui_heap._frozen_at[0] = 0
    try:
        assert ui_heap.freeze_imports()  # everything imported so far
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        assert not ui_heap.freeze_imports()  # no new modules: nothing frozen again (no garbage can pile up)
        assert gc.get_freeze_count() == frozen
        names = [f"_gan_heap_test_{i}" for i in range(ui_heap.NEW_MODULES)]
        for n in names:
            sys.modules[n] = types.ModuleType(n)
        assert ui_heap.freeze_imports()  # a page imported many modules (torch): they are frozen too
        assert gc.get_freeze_count() > frozen
    finally:
        for n in [k for k in sys.modules if k.startswith("_gan_heap_test_")]:
            del sys.modules[n]
        gc.unfreeze()


def test_frozen_objects_are_not_walked_by_a_full_collection():
    gc.unfreeze()
    ui_heap._frozen_at[0] = 0
    try:
        tracked = len(gc.get_objects())
        ui_heap.freeze_imports()
        assert len(gc.get_objects()) < tracked / 10  # what a full collection walks
    finally:
        gc.unfreeze()
