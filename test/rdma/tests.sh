#!/bin/sh
# Every RDMA test, run inside the Soft-RoCE VM by `test/rdma/run.sh test` (one VM run for all).
# cwd is the repository; rxe0 (veth0, 169.254.77.1) and rxe1 (veth1, 169.254.77.2) are up.
. test/rdma/guest-lib.sh

# The VM itself: both rxe devices are visible to libibverbs and a real RC exchange works between them.
soft_roce_devices() {
	ibv_devices | tee /dev/stderr | grep -q rxe0 && ibv_devices | grep -q rxe1
}
soft_roce_send_lat() {
	perftest_pair ib_send_lat -s 64 -n 200
}

run_test soft_roce_devices soft_roce_devices
run_test soft_roce_send_lat soft_roce_send_lat
run_test kelp_rdma_e2e test/rdma/test_kelp_rdma_e2e.sh
run_test kelpd_rdma_export test/rdma/test_kelpd_rdma_export.sh
run_test kelpd_rdma_read test/rdma/test_kelpd_rdma_read.sh
test_summary
