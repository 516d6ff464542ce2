// Every test here runs a whole mesh (10+ processes, and for the dashboard a browser): run one at a time, so on a small
// machine they do not starve each other into timeouts.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
