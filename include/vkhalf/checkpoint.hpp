#pragma once
// Checkpoints: a Trainer's whole state in one safetensors file, named as PyTorch names it.
//   "<param>"                       fp32 master weights: torch.nn.Module.state_dict() names
//   "<module>.running_mean/var"     module state (BatchNorm2d), F32
//   "<module>.num_batches_tracked"  BatchNorm2d's count of training forwards (I64, 0-d: the steps)
//   "optimizer.<param>.exp_avg"     Adam's first moment / SGD's momentum buffer (F32)
//   "optimizer.<param>.exp_avg_sq"  Adam's second moment (F32)
//   "scaler.scale" (F32 [1]), "scaler.growth_tracker" (I64 [1])   torch.amp.GradScaler's state
//   "trainer.step", "trainer.optimizer_step", "trainer.skipped" (I64 [1])
// plus metadata (format "pt", a CRC-32 of the data, and whatever the caller adds). A model loads
// into the equivalent torch.nn model with load_state_dict(strict=True) once the "optimizer.",
// "scaler." and "trainer." entries are left out.
#include <map>
#include <string>

#include "vkhalf/train.hpp"

namespace vkhalf {

// Written atomically: a temporary file, synced, renamed over path.
void save_checkpoint(Trainer& trainer, const std::string& path, const std::map<std::string, std::string>& metadata = {});

// Checks the whole file against the trainer's model (names, dtypes, shapes, checksum) before it
// changes anything: a file that does not fit is refused (IoError/ShapeError) and the trainer is
// untouched. Returns the file's metadata.
std::map<std::string, std::string> load_checkpoint(Trainer& trainer, const std::string& path);

// Initial weights for fine-tuning: a safetensors file holding a model's state_dict as PyTorch
// writes it (safetensors.torch.save_file(model.state_dict(), path)), or a vkhalf checkpoint.
// Every parameter and every module state tensor (BatchNorm2d's running statistics) must be there
// with the model's shape, as F32, F16, BF16 or F64; a tensor the model lacks is refused too, except
// torch's BatchNorm "num_batches_tracked" counters and a checkpoint's "optimizer.", "scaler." and
// "trainer." entries. The errors name the tensor. Everything is checked before anything changes.
// Sets the master and working weights and the module state; the optimizer moments restart at zero.
void load_weights(Trainer& trainer, const std::string& path);

} // namespace vkhalf
