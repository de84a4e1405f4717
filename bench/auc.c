/* examples/auc.ts in C, for the benchmark's compute-bound row: the same loop, the same reduce.
 * Build: mpicc -O2 -o auc bench/auc.c   Run: mpirun -np 2 ./auc 3000000000 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  double n = argc > 1 ? atof(argv[1]) : 1e8;
  double dx = 3 / n, width = 3.0 / size;
  double x = rank * width, a = 0;
  for (long i = 0; i < n / size; i++) { a += (0.7 * x * x * x - 2 * x * x + 4) * dx; x += dx; }
  double area = 0;
  MPI_Reduce(&a, &area, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("The area is %.15g\n", area);
  MPI_Finalize();
  return 0;
}
