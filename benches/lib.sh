# Shared by the benchmark scripts (source it).

# alternate_rounds ROUNDS [FERRY ARGS...]: for each round, `run default ROUND` and
# `run ferry ROUND FERRY ARGS...` (the caller's function), in an order that swaps every round, so
# both sides see the same drift of the machine's load.
alternate_rounds() {
  local rounds=$1 round
  shift
  for ((round = 1; round <= rounds; round++)); do
    if ((round % 2)); then
      run default "$round"
      run ferry "$round" "$@"
    else
      run ferry "$round" "$@"
      run default "$round"
    fi
  done
}
