#include "cuda_call.h"

#include <algorithm>
#include <cstring>

namespace condiff_binding {

cu::PinnedBuffer PinnedPool::take(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].bytes() >= bytes) {
        cu::PinnedBuffer b = std::move(free_[i]);
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
        return b;
      }
  }
  return cu::PinnedBuffer(std::max<size_t>(bytes, 4096));
}

void PinnedPool::give(cu::PinnedBuffer b) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (b.bytes() > 0 && b.bytes() <= (size_t{256} << 20) && free_.size() < 8) free_.push_back(std::move(b));
}

namespace {

// The completion of a call (job.h's Work, run off the event loop or, for the synchronous
// building blocks, on it): waits for the device and reads the internal results; with
// `to_host`, also copies the downloads into the host arrays (otherwise the settlement does).
Work completion(const char* op, std::shared_ptr<Pending> pending, std::shared_ptr<cu::Event> event,
                std::shared_ptr<cu::PinnedBuffer> pinned, bool to_host) {
  return [op, pending, event, pinned, to_host](JobError& err) -> Outcome {
    Outcome r;
    try {
      event->wait();
      const char* base = static_cast<const char*>(pinned->data());
      if (to_host)
        for (const auto& o : pending->outs)
          if (o.host) std::memcpy(o.host, base + o.offset, o.bytes);
      if (pending->result) r = pending->result(base);
    } catch (const RangeProblem& p) {
      err = {JobError::kRange, p.message};
    } catch (...) {
      err = {JobError::kError, exception_message(op)};
    }
    return r;
  };
}

}  // namespace

Call::Call(std::shared_ptr<cu::Context> ctx, std::shared_ptr<PinnedPool> pool, const char* op)
    : ctx_(std::move(ctx)), pool_(std::move(pool)), op_(op) {
  ctx_->begin_operation();
}

void* Call::in(Arr& a) {
  if (a.null) return nullptr;
  if (a.is_host()) {
    a.ptr = a.length ? ctx_->stage_upload(a.host_data, a.bytes()) : ctx_->stage(1);
    hold(a);
  } else {
    a.ptr = a.device->data();
    pending_.keep.push_back(a.device);
  }
  return a.ptr;
}

void* Call::out(Arr& a) {
  if (a.null) return nullptr;
  if (!a.is_host()) return in(a);
  a.ptr = ctx_->stage(std::max<size_t>(1, a.bytes()));
  copy_out(a.ptr, a);
  return a.ptr;
}

void* Call::inout(Arr& a) {
  if (a.null) return nullptr;
  in(a);
  if (a.is_host()) add_out(a.ptr, a.host_data, a.bytes());
  return a.ptr;
}

std::pair<void*, size_t> Call::result_slot(size_t bytes) {
  void* p = ctx_->stage(bytes);
  add_out(p, nullptr, bytes);
  return {p, pending_.outs.back().offset};
}

condiff::Batch Call::batch(const BatchArg& a) {
  condiff::Batch b = a.b;
  if (present(a.run_keys)) {
    b.run_keys = staged(a.run_keys.data, a.run_keys.length);
    pending_.held.push_back({a.run_keys.array, a.run_keys.name, a.run_keys.data,
                             static_cast<size_t>(a.run_keys.length) * sizeof(uint32_t)});
  }
  return b;
}

cu::DeviceCoordinates Call::coords(const Coords& c, int64_t dim) {
  std::vector<int32_t> slots(dim);
  cu::Context::coordinate_slots(c.latent.data, c.latent.length, c.observed.data, c.observed.length, dim, slots.data());
  return {staged(slots.data(), dim), staged(c.latent.data, c.latent.length), c.latent.length,
          staged(c.observed.data, c.observed.length), c.observed.length};
}

void Call::hold(const Arr& a) { pending_.held.push_back({a.host, a.name, a.host_data, a.bytes()}); }

void Call::copy_out(const void* device, const Arr& host) {
  hold(host);
  pending_.held.back().out = static_cast<int>(pending_.outs.size());
  add_out(device, host.host_data, host.bytes());
}

void Call::check_device_indices(Arr& idx, int64_t limit) {
  auto report = result_slot(2 * sizeof(int64_t));
  ctx_->check_indices(static_cast<const int32_t*>(in(idx)), idx.length, limit, static_cast<int64_t*>(report.first));
  const size_t offset = report.second;
  const std::string name = idx.name;
  checks_.push_back([offset, name, limit](const char* pinned) -> Outcome {
    int64_t r[2];
    std::memcpy(r, pinned + offset, sizeof r);
    if (r[0] >= 0)
      throw RangeProblem{name + "[" + std::to_string(r[0]) + "] must be in [0, " + std::to_string(limit) + "), got " +
                         std::to_string(r[1])};
    return Outcome();
  });
}

Napi::Value Call::finish(Napi::Env env, ResultFn result) {
  std::vector<HeldHost> held = std::move(pending_.held);
  std::vector<Pending::Out> outs = pending_.outs;
  Work work = complete(std::move(result), false);
  // Never inline: the device finishes later. The host arrays are used in place only by
  // the staging uploads, made before this returns, and by page-locked transfers; staged
  // results are copied into them at settlement (job.h).
  Async call(env, op_, true);
  call.keep(pinned_);
  const char* base = static_cast<const char*>(pinned_->data());
  for (const HeldHost& h : held) {
    const void* from = h.out >= 0 ? base + outs[h.out].offset : nullptr;
    call.hold(h.array, h.name, h.data, h.bytes, from);
  }
  return call.run(std::move(work));
}

Napi::Value Call::finish_sync(Napi::Env env, ResultFn result) {
  return run_sync(env, op_, complete(std::move(result), true));
}

Work Call::complete(ResultFn result, bool to_host) {
  std::vector<ResultFn> checks = std::move(checks_);
  pending_.result = [checks, result](const char* pinned) -> Outcome {
    for (const ResultFn& check : checks) check(pinned);
    return result ? result(pinned) : Outcome();
  };
  pending_.keep.push_back(ctx_);  // the stream outlives the call
  // The pinned block goes back to the pool when the last of the work and the settlement
  // lets it go.
  std::shared_ptr<PinnedPool> pool = pool_;
  pinned_ = std::shared_ptr<cu::PinnedBuffer>(new cu::PinnedBuffer(enqueue_downloads()), [pool](cu::PinnedBuffer* b) {
    try {
      pool->give(std::move(*b));
    } catch (...) {  // no room to keep it: freed below
    }
    delete b;
  });
  std::shared_ptr<cu::Event> event = ctx_->record();
  return completion(op_, std::make_shared<Pending>(std::move(pending_)), event, pinned_, to_host);
}

constexpr bool kPageableDownloads = false;

void Call::add_out(const void* device, void* host, size_t bytes) {
  // The chunked pageable path (download_pageable) crashed the process on the H200 (exit 139
  // on a 17.9 MB and a 320 MB download, bench/RESULTS.md): off until it is fixed and
  // verified on a device; every download goes through a page-locked block of its size.
  if (kPageableDownloads && host != nullptr && bytes > cu::Context::kHostChunkBytes) {
    chunked_.push_back({device, host, bytes, 0});
    return;
  }
  pending_.outs.push_back({device, host, bytes, pending_.total});
  pending_.total += (bytes + 63) / 64 * 64;
}

cu::PinnedBuffer Call::enqueue_downloads() {
  // The host arrays are held until the call settles (hold), after the event recorded
  // behind these copies.
  for (const auto& o : chunked_) ctx_->download_pageable(o.host, o.device, o.bytes);
  cu::PinnedBuffer pinned = pending_.total ? pool_->take(pending_.total) : cu::PinnedBuffer();
  for (const auto& o : pending_.outs)
    ctx_->download(static_cast<char*>(pinned.data()) + o.offset, o.device, o.bytes);
  return pinned;
}

ResultFn first_failed(size_t offset, int64_t runs) {
  return [offset, runs](const char* pinned) -> Outcome {
    const uint8_t* ok = reinterpret_cast<const uint8_t*>(pinned + offset);
    for (int64_t r = 0; r < runs; ++r)
      if (!ok[r]) return static_cast<double>(r);
    return -1.0;
  };
}

}  // namespace condiff_binding
