# Reference for the normal_absorbed multiple imputation (analysis/missing/imputation.py,
# issue 18): R mice's "norm" method on the committed strata_fe dataset.
#
#   Rscript tests/reference/mi_norm_reference.R      (run from the repository root)
#
# Reads tests/reference/data/strata_fe.csv (900 staff in 41 organisations as strata, one of
# a single person, one with no one in the active arm; 8% of y missing) and imputes y by
# mice's Bayesian linear regression ("norm", Rubin 1987 / van Buuren 2018 Algorithm 3.1)
# on treat, baseline and the stratum as a factor (mice codes it as dummy columns), m = 2000
# (one round: y is the only incomplete column, so there is nothing to chain).  Each
# completed dataset is fitted by lm(y ~ treat + baseline + stratum), classical variances, and
# pooled by mice::pool (Rubin's rules).  Writes, with 17 significant digits:
#   tests/reference/output/mi_norm.csv            per term: qbar, ubar, b, t, m
#   tests/reference/output/mi_norm_versions.txt   R and mice versions
# The draws are random, so the Python test compares Monte Carlo estimates with a tolerance
# from their sampling error; it never needs R.
suppressPackageStartupMessages(library(mice))

d <- read.csv("tests/reference/data/strata_fe.csv", na.strings = "NA")
x <- data.frame(y = d$y, treat = d$treat, baseline = d$baseline, stratum = factor(d$stratum))
predictors <- make.predictorMatrix(x)
predictors[, ] <- 0
predictors["y", c("treat", "baseline", "stratum")] <- 1
method <- c(y = "norm", treat = "", baseline = "", stratum = "")
set.seed(20261201)
imp <- mice(x, m = 2000, method = method, predictorMatrix = predictors, maxit = 1,
            printFlag = FALSE)
pooled <- pool(with(imp, lm(y ~ treat + baseline + stratum)))$pooled
num <- function(v) trimws(formatC(as.numeric(v), digits = 17, format = "g"))
rows <- pooled[pooled$term %in% c("treat", "baseline"), ]
write.csv(
  data.frame(term = rows$term, qbar = num(rows$estimate), ubar = num(rows$ubar),
             b = num(rows$b), t = num(rows$t), m = rows$m),
  "tests/reference/output/mi_norm.csv", row.names = FALSE, quote = FALSE
)
writeLines(c(R.version.string, paste("mice", packageVersion("mice"))),
           "tests/reference/output/mi_norm_versions.txt")
