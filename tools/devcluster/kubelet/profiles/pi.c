/*
 * pi: the MPI program of the dev cluster's runtime profiles. It plays the
 * part of the pi example the mpi-operator images carry (/home/mpiuser/pi):
 * every rank integrates 4/(1+x^2) over its share of [0,1] with the midpoint
 * rule, rank 0 sums the shares with MPI_Reduce and prints the result. Each
 * rank reports the host it ran on, so a test can prove that ranks really ran
 * on distinct workers.
 *
 * Written for this project; built with each profile's own mpicc.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	int rank, size, len;
	char host[MPI_MAX_PROCESSOR_NAME];
	long intervals = 50000000L;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Get_processor_name(host, &len);
	if (argc > 1) {
		intervals = atol(argv[1]);
	}
	if (rank == 0) {
		char version[MPI_MAX_LIBRARY_VERSION_STRING];
		int vlen;
		MPI_Get_library_version(version, &vlen);
		/* The first line names the implementation and its version. */
		for (int i = 0; i < vlen; i++) {
			if (version[i] == '\n') {
				version[i] = '\0';
				break;
			}
		}
		printf("MPI library: %s\n", version);
		printf("Workers: %d\n", size);
	}
	/* One line per rank, gathered at rank 0 so they print in order. */
	char line[MPI_MAX_PROCESSOR_NAME + 64];
	snprintf(line, sizeof line, "Rank %d of %d on host %s", rank, size, host);
	char *all = NULL;
	if (rank == 0) {
		all = malloc((size_t)size * sizeof line);
	}
	MPI_Gather(line, sizeof line, MPI_CHAR, all, sizeof line, MPI_CHAR, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		for (int i = 0; i < size; i++) {
			printf("%s\n", all + (size_t)i * sizeof line);
		}
		free(all);
	}

	double h = 1.0 / (double)intervals, sum = 0.0;
	for (long i = rank; i < intervals; i += size) {
		double x = h * ((double)i + 0.5);
		sum += 4.0 / (1.0 + x * x);
	}
	double part = h * sum, pi = 0.0;
	MPI_Reduce(&part, &pi, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("pi is approximately %.10f\n", pi);
	}
	MPI_Finalize();
	return 0;
}
