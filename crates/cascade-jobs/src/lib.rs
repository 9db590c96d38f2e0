//! Jobs: the scheduler, the model registry and its lifecycle. Empty until the training work lands;
//! it already sits in its place in the dependency order (pipeline → jobs → server).
