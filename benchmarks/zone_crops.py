"""Whole frame vs whole frame + zone crop at native resolution, on the labelled 1080p street frames.

Usage: ``python benchmarks/zone_crops.py [--data ../shared/data]``
For each labelled object box, the best score of a detection of an accepted label overlapping it (IoU >= 0.3,
loose because CCTV-scale boxes are small) is reported with and without the crop, plus the time per frame.
The crop is the labelled box's neighbourhood as a zone would be drawn around it (the box grown by 150 %).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from detectors.config import NanoDetConfig
from detectors.images import read_bgr
from detectors.registry import create_detector
from pipeline.evaluation import iou
from pipeline.regions import detect_regions

# (image, labelled box, labels that count as found) from street_vendor/ and shared_bike/ label files.
CASES = [
    ("street_scenes/images/mcmot_test_27_frame0000.jpg", (1547, 797, 1654, 907), ("bicycle", "motorcycle")),
    ("street_scenes/images/mcmot_test_27_frame0000.jpg", (1663, 797, 1789, 963), ("bicycle", "motorcycle")),
    ("street_scenes/images/captaineven_test_3.jpg", (466, 208, 596, 282), ("bicycle", "motorcycle")),
    ("street_scenes/images/captaineven_test_1.jpg", (268, 225, 333, 335), ("bicycle", "motorcycle")),
]


def zone_around(box: tuple[int, int, int, int], grow: float = 1.5) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * grow, (y2 - y1) * grow
    return int(x1 - mx), int(y1 - my), int(x2 + mx), int(y2 + my)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    args = parser.parse_args()
    detector = create_detector(NanoDetConfig(confidence=0.05))
    print(f"{'image':32} {'object box':24} {'whole':>6} {'+crop':>6} {'ms whole':>9} {'ms +crop':>9}")
    for file, box, accepted in CASES:
        image = read_bgr(args.data / file)
        scores, times = [], []
        for regions in ([], [zone_around(box)]):
            start = time.perf_counter()
            found = detect_regions(detector, image, regions, 0.5)
            times.append((time.perf_counter() - start) * 1000)
            hits = [
                float(found.confidence[i])
                for i in range(len(found))
                if found.label[i] in accepted and iou(tuple(found.xyxy[i]), box) >= 0.3
            ]
            scores.append(max(hits, default=0.0))
        print(f"{Path(file).name:32} {box!s:24} {scores[0]:6.2f} {scores[1]:6.2f} {times[0]:9.0f} {times[1]:9.0f}")


if __name__ == "__main__":
    main()
