"""The processes: RQ queues and scheduling, the worker class, the embedded Redis, the supervisor, `serve`."""
