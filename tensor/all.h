// tensor/all.h: everything in tensor/, for convenience.
#pragma once
#include "tensor/attention.h"
#include "tensor/conv.h"
#include "tensor/elementwise.h"
#include "tensor/index.h"
#include "tensor/matmul.h"
#include "tensor/norm.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/reduce.h"
#include "tensor/softmax.h"
#include "tensor/tensor.h"
