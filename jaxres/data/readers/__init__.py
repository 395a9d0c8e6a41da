"""One reader per on-disk format; each returns a `Dataset` of `Record`s in original-image pixels."""

from jaxres.data.readers.box_csv import read_box_csv
from jaxres.data.readers.coco_keypoints import read_coco_keypoints
from jaxres.data.readers.folders import read_class_folders, read_flat_folder, split_folder_names
from jaxres.data.readers.ibug_xml import read_dlib_xml
from jaxres.data.readers.keypoint_csv import read_keypoint_csv, read_keypoint_folder
from jaxres.data.readers.pts_300w import read_300w_tree, read_pts
from jaxres.data.readers.signs_h5 import read_signs_h5
from jaxres.data.readers.tfds import read_tfds

__all__ = ["read_300w_tree", "read_box_csv", "read_class_folders", "read_coco_keypoints", "read_dlib_xml",
           "read_flat_folder", "read_keypoint_csv", "read_keypoint_folder", "read_pts", "read_signs_h5", "read_tfds",
           "split_folder_names"]
