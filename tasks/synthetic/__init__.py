"""The tasks' embedded demo sets: procedural, deterministic by seed, written in each task's real format.

Each module has `make(root, *, n_train, n_val, seed, size) -> Path`, which writes the set into the
folder `root` (nothing else goes there) and returns it, ready for the task's real reader. A second
call with the same parameters finds the manifest and does nothing. The sets are small, with a
strong, simple signal, so a few CPU minutes of training visibly beat the trivial baseline.

    faces     dlib / iBUG 300-W XML + JPEGs, 68 landmarks         (read_dlib_xml)
    tshirts   points_24.csv + t-shirt_resized_train/, 12 points    (read_keypoint_folder / _csv)
    boxes     CSV index,path,x,y,height,width + JPEGs, one box      (read_box_csv)
    signs     train_signs.h5 / test_signs.h5, 6 classes at 64×64  (read_signs_h5)
    sketches  train/ val/ test/ class folders + test_images/      (read_class_folders)
"""
