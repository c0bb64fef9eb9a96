"""The dispatch LP: build it from a :class:`DispatchProblem`, solve it with HiGHS."""
