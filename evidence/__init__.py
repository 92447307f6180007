"""Evidence locker: content-addressed store, clips, snapshots, manifests, outbox. A leaf package."""
